import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";

// stacks/protobuf-strings.js: long protobuf strings go through Buffer, with the same bytes on the
// wire and the same strings back as google-protobuf's own code. Each case runs in a child node
// (the codec is process-wide), against the google-protobuf the SDK loads.
describe("stacks/protobuf-strings.js (long protobuf strings through Buffer)", function () {
    this.timeout(60_000);
    const root = path.resolve(__dirname, "..", "..");
    const hook = path.join(root, "stacks", "protobuf-strings.js");

    function run(body: string, env: NodeJS.ProcessEnv = {}): any {
        const script = `
            const jspb = require("google-protobuf");
            const { Struct } = require("google-protobuf/google/protobuf/struct_pb");
            const strings = ["", "a", "x".repeat(255), "x".repeat(256), "ünïcödé ✓ 🐳\\n".repeat(5000),
                "gzip+base64:" + "QUJD".repeat(30000), "é".repeat(300) + "🐳" + "字".repeat(300)];
            // What the SDK sends: a Struct of strings, as bytes; and what it reads back.
            const encode = () => Buffer.from(Struct.fromJavaScript({ list: strings, one: strings[4] }).serializeBinary()).toString("base64");
            const decode = (b64) => Struct.deserializeBinary(Buffer.from(b64, "base64")).toJavaScript();
            ${body}`;
        const clean = { ...process.env };
        delete clean.HH_PROTOBUF_STRINGS;
        const r = spawnSync(process.execPath, ["-e", script], { cwd: root, encoding: "utf8", env: { ...clean, ...env } });
        assert.equal(r.status, 0, r.stderr);
        return JSON.parse(r.stdout.trim().split("\n").pop()!);
    }

    it("writes the same bytes and reads back the same strings as google-protobuf's own code", () => {
        const r = run(`
            const before = encode();
            const installed = require(${JSON.stringify(hook)}).install(process.cwd());
            const after = encode();
            console.log(JSON.stringify({ installed, same: before === after, back: JSON.stringify(decode(after)) === JSON.stringify({ list: strings, one: strings[4] }) }));`);
        assert.equal(r.installed.installed, true, r.installed.why);
        assert.equal(r.same, true, "the same bytes on the wire");
        assert.equal(r.back, true, "the same strings back");
    });

    it("is left out when it would not give google-protobuf's results, and with HH_PROTOBUF_STRINGS=js", () => {
        // A Buffer that decodes wrongly: the check at install sees it and puts the original back.
        const broken = run(`
            const toString = Buffer.prototype.toString;
            Buffer.prototype.toString = function (...a) { const s = toString.apply(this, a); return a[0] === "utf8" && s.length > 300 ? s.slice(1) : s; };
            const installed = require(${JSON.stringify(hook)}).install(process.cwd());
            const s = "y".repeat(5000);
            const w = new jspb.BinaryWriter(); w.writeString(1, s);
            const rd = new jspb.BinaryReader(w.getResultBuffer()); rd.nextField();
            console.log(JSON.stringify({ installed, intact: rd.readString() === s }));`);
        assert.equal(broken.installed.installed, false);
        assert.match(broken.installed.why, /did not give google-protobuf's own results/);
        assert.equal(broken.intact, true, "the original code is back in place");
        const off = run(`console.log(JSON.stringify(require(${JSON.stringify(hook)}).install(process.cwd())));`, { HH_PROTOBUF_STRINGS: "js" });
        assert.deepEqual(off, { installed: false, why: "HH_PROTOBUF_STRINGS=js" });
    });
});
