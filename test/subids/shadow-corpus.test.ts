import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { compare, differentialScript, generateCorpus } from "../support/shadow-corpus";

// Issue #13: subids-host.sh reads /etc/subuid, /etc/subgid, /etc/passwd and /etc/group exactly
// as this machine's shadow-utils (getsubids) and glibc (getent -s files) do, line by line, on
// generated whole files (test/support/shadow-corpus.ts). The files are seen as /etc only inside
// a private mount namespace: the machine's own /etc is never written. The lab suites run the
// same corpus on bookworm and trixie hosts (test/e2e/lab-minimal.test.ts).
const SEEDS = [1, 2, 3, 4, 5, 6];

describe("subids-host.sh reads subid and account files exactly as shadow and glibc do (generated corpus, this machine)", function () {
    this.timeout(120_000);

    before(function () {
        const need = spawnSync("bash", ["-c", "command -v getsubids unshare getent"], { encoding: "utf8" });
        if (process.getuid?.() !== 0 || need.status !== 0) {
            throw new Error("needs root, getsubids (package uidmap), unshare and getent: run scripts/bootstrap.sh as root");
        }
    });

    for (const seed of SEEDS) {
        it(`seed ${seed}: every getsubids, getsubids -g and getent answer matches`, function () {
            const corpus = generateCorpus(seed);
            const r = spawnSync("bash", ["-s"], { input: differentialScript(corpus), encoding: "utf8", maxBuffer: 64 << 20 });
            assert.equal(r.status, 0, r.stderr);
            assert.deepEqual(compare(corpus, r.stdout), []);
        });
    }
});
