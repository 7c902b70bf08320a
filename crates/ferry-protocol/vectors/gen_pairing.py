#!/usr/bin/env python3
"""Writes pairing.json: paired-device vectors (web/app/js/protocol/pairing.js, docs/security.md
"Paired devices"), computed here independently of the implementation. Run from this directory:
python3 gen_pairing.py"""
import hashlib
import hmac
import json


def mac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def derive(secret_hex):
    s = bytes.fromhex(secret_hex)
    return mac(s, "ferry-pair-room-v1")[:16].hex(), mac(s, "ferry-pair-proof-v1")


def proof(secret_hex, sender, receiver):
    room, key = derive(secret_hex)
    msg = f"ferry-pair-proof-v1|{room}|{sender['id']}|{sender['nonce']}|{receiver['id']}|{receiver['nonce']}"
    return mac(key, msg).hex()


def h(seed):
    return hashlib.sha256(seed.encode()).hexdigest()


laptop = {"id": "dtls-sha-256:" + h("laptop cert"), "nonce": h("laptop nonce")}
phone = {"id": "dtls-sha-256:" + h("phone cert"), "nonce": h("phone nonce")}
middle = {"id": "dtls-sha-256:" + h("cert in the middle"), "nonce": h("phone nonce")}
cases = []
for name, secret in [("a pairing", h("secret 1")), ("another pairing", h("secret 2"))]:
    room, _ = derive(secret)
    cases.append({
        "name": name,
        "secret": secret,
        "room": room,
        "laptop": laptop,
        "phone": phone,
        "middle": middle,
        "laptopToPhone": proof(secret, laptop, phone),
        "phoneToLaptop": proof(secret, phone, laptop),
        # The laptop's proof as a key-swapping server would need it for its own end.
        "laptopToMiddle": proof(secret, laptop, middle),
    })
json.dump({"cases": cases}, open("pairing.json", "w"), indent=2)
open("pairing.json", "a").write("\n")
