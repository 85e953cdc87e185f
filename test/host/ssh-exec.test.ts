import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { withSsh } from "../../components/host/ssh-exec";
import { ThrowawaySshd, sshdMissing } from "../support/sshd";

// The verification path's SSH (components/host/ssh-exec.ts, used by HostCheck on up and refresh)
// against a throw-away sshd on this machine: a changed host key is named, with both keys'
// fingerprints, on the first attempt (issue 28: it read "Host denied (verification failed)
// (after 20 attempts)" after 2m16s).
describe("withSsh: the host key (throw-away sshd)", function () {
    this.timeout(60_000);
    let sshd: ThrowawaySshd | undefined;
    let otherKey: string;
    let tmp: string;

    before(async function () {
        const missing = sshdMissing();
        if (missing) throw new Error(missing);
        sshd = await ThrowawaySshd.start();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hh-hostkey-"));
        spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(tmp, "k")]);
        otherKey = fs.readFileSync(path.join(tmp, "k.pub"), "utf8").trim();
    });
    after(async function () {
        await sshd?.stop();
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    const conn = (hostKey: string) => ({ host: "127.0.0.1", port: sshd!.port, user: sshd!.user, privateKey: sshd!.clientKey, hostKey, dialErrorLimit: 20 });
    const fp = (pub: string) => `SHA256:${crypto.createHash("sha256").update(Buffer.from(pub.split(/\s+/)[1]!, "base64")).digest("base64").replace(/=+$/, "")}`;

    it("the pinned key: runs", async function () {
        const out = await withSsh(conn(sshd!.hostKey), (exec) => exec("echo ok", ""));
        assert.equal(out.stdout.trim(), "ok");
    });

    it("another key: fails on the first attempt naming both fingerprints, in seconds", async function () {
        const t0 = Date.now();
        await assert.rejects(withSsh(conn(otherKey), (exec) => exec("echo ok", "")), (e: Error) => {
            assert.match(e.message, /host key mismatch: the host offered ssh-ed25519 SHA256:/);
            assert.ok(e.message.includes(`offered ssh-ed25519 ${fp(sshd!.hostKey)}, not the pinned hostKey ssh-ed25519 ${fp(otherKey)}`), e.message);
            assert.match(e.message, /\(after 1 attempt\)$/);
            return true;
        });
        assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
    });

    it("a pinned key of a type the host does not offer: named as a host key mismatch, first attempt", async function () {
        spawnSync("ssh-keygen", ["-q", "-t", "ecdsa", "-N", "", "-f", path.join(tmp, "e")]);
        const ecdsa = fs.readFileSync(path.join(tmp, "e.pub"), "utf8").trim();
        await assert.rejects(withSsh(conn(ecdsa), (exec) => exec("echo ok", "")), (e: Error) => {
            assert.match(e.message, /host key mismatch: the host offers no ecdsa-sha2-nistp256 host key/);
            assert.match(e.message, /\(after 1 attempt\)$/);
            return true;
        });
    });
});
