/**
 * Timings of the host script `components/subids/subids-host.sh` (real bash + the machine's awk)
 * on /etc/subuid files of growing size, in a temp dir. No thresholds: it prints figures.
 * An earlier version built the output by string concatenation and took 130 s at 100k lines.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";

const script = path.join(__dirname, "..", "components", "subids", "subids-host.sh");

function timeRun(etc: string, args: string[]): number {
    const t0 = performance.now();
    const r = spawnSync("bash", [script, ...args], { env: { ...process.env, HH_ETC: etc }, encoding: "utf8" });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`subids-host.sh ${args[0]} failed: ${r.stderr}`);
    return ms;
}

export function run(): void {
    const etc = fs.mkdtempSync(path.join(os.tmpdir(), "hh-bench-etc-"));
    try {
        fs.writeFileSync(path.join(etc, "passwd"), "root:x:0:0::/root:/bin/sh\n");
        fs.writeFileSync(path.join(etc, "group"), "root:x:0:\n");
        const plan = Array.from({ length: 16 }, (_, i) => `tenant-${i}:${2 ** 31 + i * 65536}:65536`);
        let previous = 0;
        for (const n of [1000, 10000, 100000]) {
            const text = Array.from({ length: n }, (_, i) => `u${i}:${100000 + i * 16}:16\n`).join("");
            fs.writeFileSync(path.join(etc, "subuid"), text);
            fs.writeFileSync(path.join(etc, "subgid"), text);
            const apply = timeRun(etc, ["apply", ...plan]);
            const again = timeRun(etc, ["apply", ...plan]);
            const remove = timeRun(etc, ["remove"]);
            const growth = previous ? `  (x${(apply / previous).toFixed(1)} vs 10x fewer lines)` : "";
            console.log(`subids-host.sh on ${String(n).padStart(6)}-line files: apply ${apply.toFixed(0).padStart(5)} ms, ` +
                `no-change apply ${again.toFixed(0).padStart(5)} ms, remove ${remove.toFixed(0).padStart(5)} ms${growth}`);
            previous = apply;
        }
    } finally {
        fs.rmSync(etc, { recursive: true, force: true });
    }
}

if (require.main === module) run();
