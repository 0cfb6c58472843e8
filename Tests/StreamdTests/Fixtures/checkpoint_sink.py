#!/usr/bin/env python3
"""Where CheckpointPushTests sends checkpoints: a write-once store and a C2SP tlog-witness.

    checkpoint_sink.py FOLDER PORT VKEY

PUT /store/NAME keeps the body as FOLDER/store/NAME and refuses to overwrite a name (412), as a
bucket with object lock would. POST /witness/add-checkpoint witnesses the one log whose key is
VKEY (C2SP vkey: NAME+HASH+BASE64): it checks the note's Ed25519 signature with openssl, the RFC
6962 consistency proof from the size it last cosigned (RFC 9162 2.1.4.2), and answers as
c2sp.org/tlog-witness says: 200 with a cosignature line, 409 with its size, 400, 403, 404, 422.
Every answer is appended to FOLDER/witness.log as "STATUS old=N size=M".
"""
import base64
import hashlib
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time

folder, port, vkey = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# The base64 may hold "+" too: the name and hash come first.
key_name, _, key_b64 = vkey.split("+", 2)
key_bytes = base64.b64decode(key_b64)
assert key_bytes[0] == 1 and len(key_bytes) == 33, "an Ed25519 vkey"
log_key = key_bytes[1:]
store = os.path.join(folder, "store")
os.makedirs(store, exist_ok=True)
work = tempfile.mkdtemp(prefix="witness-")
SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")
lock = threading.Lock()
state = {"size": 0, "root": hashlib.sha256(b"").digest()}

with open(os.path.join(work, "log.der"), "wb") as f:
    f.write(SPKI_ED25519 + log_key)
subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", os.path.join(work, "witness.pem")], check=True)


def openssl_verify(message, signature):
    with open(os.path.join(work, "message"), "wb") as f:
        f.write(message)
    with open(os.path.join(work, "signature"), "wb") as f:
        f.write(signature)
    result = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", os.path.join(work, "log.der"),
         "-rawin", "-in", os.path.join(work, "message"), "-sigfile", os.path.join(work, "signature")],
        capture_output=True)
    return result.returncode == 0


def openssl_sign(message):
    with open(os.path.join(work, "tosign"), "wb") as f:
        f.write(message)
    return subprocess.run(
        ["openssl", "pkeyutl", "-sign", "-inkey", os.path.join(work, "witness.pem"), "-rawin", "-in", os.path.join(work, "tosign")],
        capture_output=True, check=True).stdout


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def consistent(first, second, proof, first_hash, second_hash):
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0:
        return not proof
    if not proof:
        return False
    if first & (first - 1) == 0:
        proof = [first_hash] + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_hash and sr == second_hash


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", kind="text/plain; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_PUT(self):
        name = self.path.rsplit("/", 1)[-1]
        if not self.path.startswith("/store/") or not name.endswith(".checkpoint") or "/" in name or name.startswith("."):
            return self.answer(404)
        data = self.body()
        try:
            with open(os.path.join(store, name), "xb") as f:
                f.write(data)
        except FileExistsError:
            return self.answer(412, b"write once\n")
        self.answer(201)

    def do_POST(self):
        if self.path != "/witness/add-checkpoint":
            return self.answer(404)
        status, body, old, size = self.witness(self.body())
        with open(os.path.join(folder, "witness.log"), "a") as f:
            f.write(f"{status} old={old} size={size}\n")
        kind = "text/x.tlog.size" if status == 409 else "text/plain; charset=utf-8"
        self.answer(status, body, kind)

    def witness(self, request):
        try:
            head, note = request.split(b"\n\n", 1)
            lines = head.split(b"\n")
            old = int(lines[0].split(b" ")[1]) if lines[0].startswith(b"old ") else None
            proof = [base64.b64decode(line) for line in lines[1:]]
            text, signatures = note.split(b"\n\n", 1)
            text += b"\n"
            origin, size_line, root_line = text.split(b"\n")[:3]
            size, root = int(size_line), base64.b64decode(root_line)
        except Exception:
            return 400, b"malformed add-checkpoint request\n", None, None
        if origin.decode() != key_name:
            return 404, b"unknown origin\n", old, size
        signed = False
        for line in signatures.decode().splitlines():
            parts = line.split(" ")
            if len(parts) == 3 and parts[0] == "\u2014" and parts[1] == key_name:
                raw = base64.b64decode(parts[2])
                signed = signed or (len(raw) == 68 and openssl_verify(text, raw[4:]))
        if not signed:
            return 403, b"not signed by the log's key\n", old, size
        with lock:
            if old is None or old > size:
                return 400, b"bad old size\n", old, size
            if old != state["size"]:
                return 409, f"{state['size']}\n".encode(), old, size
            if not consistent(old, size, proof, state["root"], root):
                return 422, b"consistency proof does not verify\n", old, size
            state["size"], state["root"] = size, root
        stamp = int(time.time())
        message = b"cosignature/v1\ntime %d\n" % stamp + text
        signature = openssl_sign(message)
        line = "\u2014 witness.test " + base64.b64encode(b"\0\0\0\0" + stamp.to_bytes(8, "big") + signature).decode() + "\n"
        return 200, line.encode(), old, size


http.server.ThreadingHTTPServer.allow_reuse_address = True
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
print("listening", port, flush=True)
server.serve_forever()
