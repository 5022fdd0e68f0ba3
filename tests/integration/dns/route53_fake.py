#!/usr/bin/python3
"""route53_fake.py - a small fake of Amazon Route 53's API for ferry's tests.

Route 53 cannot run here, so the route53 provider is tested against this:
the four calls ferry makes (GetHostedZone, ListResourceRecordSets,
ChangeResourceRecordSets, GetChange) with the semantics ferry relies on,
and every request's SigV4 signature checked by python3-botocore (Debian's),
an implementation independent of ferry's, as the oracle:

  - the Authorization header's credential scope must be KEY/DATE/us-east-1/
    route53/aws4_request with DATE the request's X-Amz-Date, within 5
    minutes of now; its SignedHeaders must include host and x-amz-date (and
    x-amz-security-token when a token is configured, which must match);
  - botocore's SigV4Auth computes the signature of the request as received
    (method, Host, path, query, the signed headers, the body) and it must
    equal the one sent; otherwise 403 SignatureDoesNotMatch.

ChangeResourceRecordSets applies a batch whole or not at all: a DELETE must
match a record set exactly (name, type, SetIdentifier, Weight, TTL, values),
a CREATE must not exist yet, a CNAME cannot share its name with another
type, a name cannot mix weighted and plain sets of one type; anything else
is 400 InvalidChangeBatch with nothing changed.  GetChange says PENDING once,
then INSYNC.

Test hooks, in the state folder (--dir):
  records.json  the zone, written after every change (the tests read it:
                an independent view of what the fake holds)
  requests.log  one line per request: METHOD PATH signature=ok|bad
  race.json     {"name": N, "records": [...]}: after the next
                ListResourceRecordSets that covers N, N's sets are replaced
                by these (another party writing right after ferry's read);
                the file is removed once used
  deny          while it exists, ChangeResourceRecordSets is 403 AccessDenied
  maxitems      while it exists, ListResourceRecordSets pages hold at most
                that many record sets (to make ferry follow NextRecordName)
"""
import argparse
import datetime
import http.server
import json
import os
import re
import sys
import threading
import urllib.parse
import xml.etree.ElementTree as ET

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

NS = "https://route53.amazonaws.com/doc/2013-04-01/"


def read_secret(path):
    with open(path) as f:
        return f.read().strip()


class Zone:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.sets = json.load(open(args.records)) if args.records else []
        self.changes = {}
        self.nchange = 0
        self.save()

    def save(self):
        tmp = os.path.join(self.args.dir, "records.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.sets, f, indent=1, sort_keys=True)
        os.replace(tmp, os.path.join(self.args.dir, "records.json"))


def key_of(s):
    labels = s["name"].rstrip(".").split(".")
    return (list(reversed(labels)), s["type"], s.get("set_id") or "")


def same(a, b):
    return (a["name"] == b["name"] and a["type"] == b["type"]
            and a.get("set_id") == b.get("set_id") and a.get("weight") == b.get("weight")
            and a["ttl"] == b["ttl"] and sorted(a["values"]) == sorted(b["values"]))


def xml_error(code, message, status):
    body = ('<?xml version="1.0"?>\n<ErrorResponse xmlns="%s"><Error><Type>Sender</Type>'
            "<Code>%s</Code><Message>%s</Message></Error><RequestId>fake</RequestId>"
            "</ErrorResponse>" % (NS, code, escape(message)))
    return status, body


def escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def set_xml(s):
    out = "<ResourceRecordSet><Name>%s</Name><Type>%s</Type>" % (escape(s["name"]), s["type"])
    if s.get("set_id") is not None:
        out += "<SetIdentifier>%s</SetIdentifier><Weight>%d</Weight>" % (
            escape(s["set_id"]), s["weight"])
    out += "<TTL>%d</TTL><ResourceRecords>" % s["ttl"]
    for v in s["values"]:
        out += "<ResourceRecord><Value>%s</Value></ResourceRecord>" % escape(v)
    return out + "</ResourceRecords></ResourceRecordSet>"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def reply(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_request_line(self, ok):
        with open(os.path.join(ZONE.args.dir, "requests.log"), "a") as f:
            f.write("%s %s signature=%s\n" % (self.command, self.path, "ok" if ok else "bad"))

    # --- the oracle ----------------------------------------------------------
    def signature_ok(self, body):
        args = ZONE.args
        auth = self.headers.get("Authorization", "")
        m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                     r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$", auth)
        if not m:
            return "no AWS4-HMAC-SHA256 Authorization header"
        key_id, date, region, service, signed, sig = m.groups()
        amz_date = self.headers.get("X-Amz-Date", "")
        if key_id != args.access_key_id:
            return "InvalidClientTokenId"
        if region != "us-east-1" or service != "route53" or not amz_date.startswith(date):
            return "credential scope %s/%s/%s does not match" % (date, region, service)
        try:
            t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        except ValueError:
            return "bad X-Amz-Date"
        if abs((datetime.datetime.utcnow() - t).total_seconds()) > 300:
            return "X-Amz-Date is more than 5 minutes off"
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names:
            return "host and x-amz-date must be signed"
        token = read_secret(args.token_file) if args.token_file else None
        if token is not None and ("x-amz-security-token" not in names
                                  or self.headers.get("X-Amz-Security-Token") != token):
            return "InvalidClientTokenId (session token)"
        headers = {}
        for n in names:
            v = self.headers.get_all(n)
            if v is None:
                return "signed header %s not sent" % n
            headers[n] = ",".join(v)
        creds = Credentials(args.access_key_id, read_secret(args.secret_file), token)
        req = AWSRequest(method=self.command, url="http://%s%s" % (headers["host"], self.path),
                         data=body, headers=headers)
        req.context["timestamp"] = amz_date
        signer = SigV4Auth(creds, "route53", "us-east-1")
        canonical = signer.canonical_request(req)
        expected = signer.signature(signer.string_to_sign(req, canonical), req)
        if expected != sig:
            return "SignatureDoesNotMatch"
        return None

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        why = self.signature_ok(body)
        self.log_request_line(why is None)
        if why is not None:
            code = why if why in ("InvalidClientTokenId", "SignatureDoesNotMatch") else \
                "SignatureDoesNotMatch"
            return self.reply(*xml_error(code, why, 403))
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        p = url.path.rstrip("/")
        zone_id = ZONE.args.zone_id
        m = re.match(r"^/2013-04-01/hostedzone/([A-Z0-9]+)(/rrset)?$", p)
        if m and m.group(1) != zone_id:
            return self.reply(*xml_error("NoSuchHostedZone",
                                         "No hosted zone found with ID: " + m.group(1), 404))
        with ZONE.lock:
            if self.command == "GET" and m and not m.group(2):
                return self.get_zone()
            if self.command == "GET" and m:
                return self.list_sets(q)
            if self.command == "POST" and m and m.group(2):
                return self.change(body)
            c = re.match(r"^/2013-04-01/change/([A-Z0-9]+)$", p)
            if self.command == "GET" and c:
                return self.get_change(c.group(1))
        return self.reply(*xml_error("InvalidInput", "no such call " + p, 400))

    do_GET = handle_any
    do_POST = handle_any

    # --- the calls ----------------------------------------------------------
    def get_zone(self):
        a = ZONE.args
        self.reply(200, '<?xml version="1.0"?>\n<GetHostedZoneResponse xmlns="%s"><HostedZone>'
                        "<Id>/hostedzone/%s</Id><Name>%s.</Name><CallerReference>fake"
                        "</CallerReference><ResourceRecordSetCount>%d</ResourceRecordSetCount>"
                        "</HostedZone></GetHostedZoneResponse>"
                   % (NS, a.zone_id, a.zone, len(ZONE.sets)))

    def list_sets(self, q):
        start = {"name": q.get("name", ""), "type": q.get("type", ""),
                 "set_id": q.get("identifier", "")}
        maxitems = int(q.get("maxitems", "300"))
        cap = os.path.join(ZONE.args.dir, "maxitems")
        if os.path.exists(cap):  # test hook: smaller pages than asked for
            maxitems = min(maxitems, int(open(cap).read()))
        sets = sorted(ZONE.sets, key=key_of)
        sets = [s for s in sets if key_of(s) >= key_of(start)]
        page, rest = sets[:maxitems], sets[maxitems:]
        out = '<?xml version="1.0"?>\n<ListResourceRecordSetsResponse xmlns="%s">' % NS
        out += "<ResourceRecordSets>" + "".join(set_xml(s) for s in page) + \
            "</ResourceRecordSets>"
        out += "<IsTruncated>%s</IsTruncated>" % ("true" if rest else "false")
        if rest:
            out += "<NextRecordName>%s</NextRecordName><NextRecordType>%s</NextRecordType>" % (
                rest[0]["name"], rest[0]["type"])
            if rest[0].get("set_id") is not None:
                out += "<NextRecordIdentifier>%s</NextRecordIdentifier>" % rest[0]["set_id"]
        out += "<MaxItems>%d</MaxItems></ListResourceRecordSetsResponse>" % maxitems
        # Another party writes right after this read: decided before the
        # reply goes out (a race.json written later is for a later read),
        # applied after it, under the zone's lock.
        race = os.path.join(ZONE.args.dir, "race.json")
        r = json.load(open(race)) if os.path.exists(race) else None
        if r and not (any(s["name"] == r["name"] for s in page) or start["name"] == r["name"]):
            r = None
        self.reply(200, out)
        if r:
            ZONE.sets = [s for s in ZONE.sets if s["name"] != r["name"]] + r["records"]
            ZONE.save()
            os.remove(race)
            with open(os.path.join(ZONE.args.dir, "requests.log"), "a") as f:
                f.write("race: %s written by another party\n" % r["name"])

    def change(self, body):
        if os.path.exists(os.path.join(ZONE.args.dir, "deny")):
            return self.reply(*xml_error("AccessDenied", "User is not authorized to perform: "
                                         "route53:ChangeResourceRecordSets", 403))
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            return self.reply(*xml_error("InvalidInput", "bad XML: %s" % e, 400))
        sets = [dict(s) for s in ZONE.sets]
        errors = []
        for ch in root.iter("{%s}Change" % NS):
            action = ch.findtext("{%s}Action" % NS)
            rs = ch.find("{%s}ResourceRecordSet" % NS)
            s = {"name": rs.findtext("{%s}Name" % NS), "type": rs.findtext("{%s}Type" % NS),
                 "ttl": int(rs.findtext("{%s}TTL" % NS)),
                 "values": [v.text for v in rs.iter("{%s}Value" % NS)]}
            if rs.find("{%s}SetIdentifier" % NS) is not None:
                s["set_id"] = rs.findtext("{%s}SetIdentifier" % NS)
                s["weight"] = int(rs.findtext("{%s}Weight" % NS))
            if action == "DELETE":
                match = [x for x in sets if same(x, s)]
                if not match:
                    errors.append("Tried to delete resource record set [name='%s', type='%s'] "
                                  "but the values provided do not match the current values"
                                  % (s["name"], s["type"]))
                else:
                    sets.remove(match[0])
            elif action == "CREATE":
                clash = [x for x in sets if x["name"] == s["name"] and (
                    x["type"] == s["type"] and x.get("set_id") == s.get("set_id")
                    or "CNAME" in (x["type"], s["type"]) and x["type"] != s["type"]
                    or x["type"] == s["type"] and (x.get("set_id") is None)
                    != (s.get("set_id") is None))]
                if clash:
                    errors.append("Tried to create resource record set [name='%s', type='%s'] "
                                  "but it already exists or conflicts" % (s["name"], s["type"]))
                else:
                    sets.append(s)
            else:
                errors.append("unsupported action %s" % action)
        if errors:
            out = '<?xml version="1.0"?>\n<InvalidChangeBatch xmlns="%s"><Messages>' % NS
            out += "".join("<Message>%s</Message>" % escape(e) for e in errors)
            return self.reply(400, out + "</Messages></InvalidChangeBatch>")
        ZONE.sets = sets
        ZONE.save()
        ZONE.nchange += 1
        cid = "C%08d" % ZONE.nchange
        ZONE.changes[cid] = 0
        self.reply(200, '<?xml version="1.0"?>\n<ChangeResourceRecordSetsResponse xmlns="%s">'
                        "<ChangeInfo><Id>/change/%s</Id><Status>PENDING</Status>"
                        "<SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo>"
                        "</ChangeResourceRecordSetsResponse>" % (NS, cid))

    def get_change(self, cid):
        if cid not in ZONE.changes:
            return self.reply(*xml_error("NoSuchChange", "no change " + cid, 404))
        ZONE.changes[cid] += 1
        status = "PENDING" if ZONE.changes[cid] == 1 else "INSYNC"
        self.reply(200, '<?xml version="1.0"?>\n<GetChangeResponse xmlns="%s"><ChangeInfo>'
                        "<Id>/change/%s</Id><Status>%s</Status></ChangeInfo>"
                        "</GetChangeResponse>" % (NS, cid, status))


def main():
    global ZONE
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--zone", required=True)
    ap.add_argument("--zone-id", required=True)
    ap.add_argument("--access-key-id", required=True)
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--token-file")
    ap.add_argument("--records")
    args = ap.parse_args()
    ZONE = Zone(args)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    with open(os.path.join(args.dir, "ready"), "w") as f:
        f.write("%d\n" % args.port)
    srv.serve_forever()


ZONE = None
if __name__ == "__main__":
    sys.exit(main())
