// Encodes and decodes long protobuf strings with Node's own UTF-8 codec instead of google-protobuf's
// JavaScript loops (stacks/main.js installs this in the program, scripts/dynamic-provider.js in
// the dynamic provider).
//
// Why: every RPC between the engine and a Node.js process goes through google-protobuf, whose
// BinaryDecoder.readString decodes UTF-8 one byte at a time into an array of char codes, and
// whose BinaryEncoder.writeString encodes one char at a time. This project's resources carry
// long strings (a host's scripts, packed, and the dynamic providers' serialized code: ~200 KB a
// host, sent in each registration and in each Check and Diff, both ways). In a no-change preview
// of 12 hosts that was 0.17 s of the program's CPU and 0.16 s of the dynamic provider's, and the
// provider's share is on the critical path: the engine asks it for each host's Check and Diff
// one host after another (docs/notes/fleet-scale.md).
//
// How: the decoder's prototype is reached through the public BinaryReader, the writer is the
// public BinaryWriter; strings of LONG characters or more go through Buffer, shorter ones through
// the original code. The replacement is checked at install against the original (the same bytes for
// the same strings, the same strings back, multi-byte and astral characters included) and left
// out if anything differs, if google-protobuf is not the shape it expects, or with
// HH_PROTOBUF_STRINGS=js.
"use strict";
const path = require("node:path");

/** Shorter strings keep google-protobuf's loop (Buffer's call overhead is not worth it). */
const LONG = 256;

// Checked at every install, so kept small (~25 KB): every path of the codec, multi-byte and astral
// characters, and one string over 16 KB (its length takes a 3-byte varint).
const SAMPLES = [
    "",
    "short",
    "x".repeat(LONG - 1),
    "x".repeat(LONG),
    `#!/bin/bash\nset -euo pipefail\n${"echo 'ünïcödé ✓ 🐳' \"$@\"\n".repeat(40)}`,
    `gzip+base64:${"QUJD".repeat(5000)}`,
    `${"é".repeat(300)}🐳${"字".repeat(300)}`,
];

/** The decoder's prototype, found through the public reader (its own is minified). */
function prototypes(jspb) {
    const reader = new jspb.BinaryReader(new Uint8Array(0));
    const own = (obj, pred) => Object.values(obj).find((v) => v && typeof v === "object" && pred(Object.getPrototypeOf(v)));
    const decoder = own(reader, (p) => p && typeof p.readString === "function" && typeof p.getCursor === "function" && typeof p.setCursor === "function" && typeof p.getBuffer === "function");
    if (!decoder || typeof jspb.BinaryWriter.prototype.writeBytes !== "function") return undefined;
    return { Decoder: Object.getPrototypeOf(decoder) };
}

/** Replaces `fn` on `proto` under every name it has (the public one and the minified alias). */
function replace(proto, fn, by) {
    const names = Object.getOwnPropertyNames(proto).filter((k) => proto[k] === fn);
    for (const k of names) proto[k] = by;
    return () => { for (const k of names) proto[k] = fn; };
}

/** Bytes a BinaryWriter makes of each sample, and what a BinaryReader reads back. */
function roundTrip(jspb) {
    return SAMPLES.map((s) => {
        const w = new jspb.BinaryWriter();
        w.writeString(1, s);
        w.writeString(2, s);
        const bytes = w.getResultBuffer();
        const r = new jspb.BinaryReader(bytes);
        const back = [];
        while (r.nextField()) back.push(r.readString());
        return { bytes: Buffer.from(bytes).toString("base64"), back };
    });
}

/** Installs the Buffer-based codec on the google-protobuf the SDK under `projectRoot` uses. */
function install(projectRoot, env = process.env) {
    if (env.HH_PROTOBUF_STRINGS === "js") return { installed: false, why: "HH_PROTOBUF_STRINGS=js" };
    let jspb;
    try {
        const sdk = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [projectRoot] }));
        jspb = require(require.resolve("google-protobuf", { paths: [sdk] }));
    } catch (err) {
        return { installed: false, why: `google-protobuf not found: ${err.message}` };
    }
    const found = prototypes(jspb);
    if (!found) return { installed: false, why: "google-protobuf's decoder or writer is not the shape expected" };
    const { Decoder } = found;
    if (Decoder.readString.fastStrings) return { installed: true, why: "already installed" };
    const expected = roundTrip(jspb);

    const readString = Decoder.readString;
    const fastRead = function (length) {
        if (length < LONG) return readString.call(this, length);
        const bytes = this.getBuffer();
        const start = this.getCursor();
        if (start + length > bytes.length) return readString.call(this, length);
        const s = Buffer.from(bytes.buffer, bytes.byteOffset + start, length).toString("utf8");
        this.setCursor(start + length);
        return s;
    };
    fastRead.fastStrings = true;
    // A long string is written as the bytes field it is on the wire (the same tag, length and
    // UTF-8 bytes), which the writer keeps as one block instead of pushing it byte by byte.
    const Writer = jspb.BinaryWriter.prototype;
    const writeString = Writer.writeString;
    const fastWrite = function (field, value) {
        if (typeof value !== "string" || value.length < LONG) return writeString.call(this, field, value);
        const buf = Buffer.from(value, "utf8");
        return this.writeBytes(field, new Uint8Array(buf.buffer, buf.byteOffset, buf.length));
    };
    const undo = [replace(Decoder, readString, fastRead), replace(Writer, writeString, fastWrite)];

    let same;
    try {
        same = JSON.stringify(roundTrip(jspb)) === JSON.stringify(expected);
    } catch {
        same = false;
    }
    if (!same) {
        for (const u of undo) u();
        return { installed: false, why: "the Buffer codec did not give google-protobuf's own results: left out" };
    }
    return { installed: true, why: "long strings go through Buffer" };
}

module.exports = { install, LONG };
