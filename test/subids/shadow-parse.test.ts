import * as assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot } from "../support/pulumi-cli";

// Differential: a foreign /etc/subuid line in every number notation shadow-utils accepts (and
// some it refuses), read by the real getsubids on this machine's /etc/subuid, and by
// subids-host.sh (in a copy of /etc). Where getsubids sees a range that overlaps the plan,
// subids-host.sh must refuse to write it; where getsubids sees no entry, neither may we.
const script = path.join(repoRoot, "components", "subids", "subids-host.sh");
const NOTATIONS = [
    "2147483648", "0x80000000", "0X80000000", "020000000000", " 2147483648", "\t2147483648", "+2147483648",
    "-0", "08", "2147483648 ", "0x", "", "2147483648x", "4294967296", "18446744073709551615", "-2147483648",
];

describe("subids-host.sh reads subordinate ID numbers exactly as shadow's getsubids does (real /etc/subuid)", function () {
    this.timeout(60_000);
    const id = crypto.randomBytes(3).toString("hex");
    const user = `hh-p-${id}`;
    let original: string | null = null;
    let etc = "";

    before(function () {
        if (process.getuid?.() !== 0 || spawnSync("bash", ["-c", "command -v getsubids"]).status !== 0) {
            throw new Error("needs root and getsubids (package uidmap): run scripts/bootstrap.sh as root");
        }
        original = fs.existsSync("/etc/subuid") ? fs.readFileSync("/etc/subuid", "utf8") : null;
        execFileSync("useradd", ["-M", "-s", "/usr/sbin/nologin", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", user]);
        etc = fs.mkdtempSync(path.join(os.tmpdir(), "hh-shadow-"));
        for (const f of ["passwd", "group"]) fs.copyFileSync(`/etc/${f}`, path.join(etc, f));
    });
    after(function () {
        // Exactly the bytes we found (or no file, if there was none), then our user.
        if (original === null) fs.rmSync("/etc/subuid", { force: true });
        else fs.writeFileSync("/etc/subuid", original);
        spawnSync("userdel", [user]);
        if (etc) fs.rmSync(etc, { recursive: true, force: true });
    });

    for (const n of NOTATIONS) {
        it(`start ${JSON.stringify(n)}`, function () {
            const line = `${user}:${n}:65536`;
            fs.writeFileSync("/etc/subuid", `${original ?? ""}${line}\n`);
            const g = spawnSync("getsubids", [user], { encoding: "utf8" });
            // "0: NAME START COUNT" per range, or an error when shadow sees no valid entry.
            const m = /^0: \S+ (\d+) (\d+)$/m.exec(g.stdout);
            const shadowStart = m ? BigInt(m[1]!) : undefined;

            fs.writeFileSync(path.join(etc, "subuid"), `${line}\n`);
            fs.writeFileSync(path.join(etc, "subgid"), "");
            const r = spawnSync("bash", [script, "check", "planned:2147483648:65536"], {
                encoding: "utf8", env: { ...process.env, HH_ETC: etc },
            });
            const overlapsPlan = shadowStart !== undefined && shadowStart < 2147483648n + 65536n && 2147483648n < shadowStart + 65536n;
            if (overlapsPlan) {
                assert.equal(r.status, 3, `getsubids reads ${shadowStart}: the plan overlaps it, subids-host.sh must refuse\n${r.stdout}`);
                assert.match(r.stdout, /overlaps line 1/);
            } else {
                assert.equal(r.status, 0, `getsubids reads ${shadowStart ?? "no entry"}: no overlap\n${r.stdout}${r.stderr}`);
            }
        });
    }
});
