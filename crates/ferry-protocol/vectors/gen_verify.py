#!/usr/bin/env python3
"""Writes verify.json: security-code vectors (crates/ferry-protocol/src/verify.rs), computed here
independently of both implementations. Run from this directory: python3 gen_verify.py"""
import hashlib
import json


def code(id_a, n_a, id_b, n_b):
    (lo_id, lo_n), (hi_id, hi_n) = sorted([(id_a, n_a), (id_b, n_b)])
    d = hashlib.sha256(f"ferry-sas-v2|{lo_id}|{lo_n}|{hi_id}|{hi_n}".encode()).digest()
    n = int.from_bytes(d[:4], "big") % 1_000_000
    return f"{n // 1000:03d} {n % 1000:03d}"


def nonce(seed):
    return hashlib.sha256(f"nonce {seed}".encode()).hexdigest()


fp_a = "dtls-sha-256:" + hashlib.sha256(b"cert a").hexdigest()
fp_b = "dtls-sha-256:" + hashlib.sha256(b"cert b").hexdigest()
fp_m = "dtls-sha-256:" + hashlib.sha256(b"cert in the middle").hexdigest()
relay_a = "relay-p256:BOgwJ3bW5a5jyGS0mIOhK-8R2Gb3KX3ybvA5zbJmWf2h0x1zB6x4YzYCbaTsYPk8AHDMh4yI8bq_OhDxQ_SDzfI"
relay_b = "relay-p256:BFtqYX0aT9hIDRUfQKT4kY1VxWK0qBSCkqnDxUk-QkXMY6QYZ9c3oF2NHVlcT8Nn4WBqQTrGzzXgbiNRM4Q0j1E"
cases = []
for name, a, b in [
    ("two DataChannel ends", fp_a, fp_b),
    ("one fingerprint swapped (someone in the middle)", fp_a, fp_m),
    ("the WebSocket relay", relay_a, relay_b),
]:
    na, nb = nonce(name + " a"), nonce(name + " b")
    cases.append({
        "name": name,
        "own": {"id": a, "nonce": na, "commit": hashlib.sha256(bytes.fromhex(na)).hexdigest()},
        "peer": {"id": b, "nonce": nb, "commit": hashlib.sha256(bytes.fromhex(nb)).hexdigest()},
        "code": code(a, na, b, nb),
    })
fp_hex = hashlib.sha256(b"cert a").hexdigest()
sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=fingerprint:sha-256 " + ":".join(
    fp_hex[i:i + 2].upper() for i in range(0, 64, 2)) + "\r\na=setup:actpass\r\n"
json.dump({"cases": cases, "sdp": {"sdp": sdp, "identity": fp_a}}, open("verify.json", "w"), indent=2)
open("verify.json", "a").write("\n")
