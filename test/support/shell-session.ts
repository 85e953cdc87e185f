import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** What one line printed and how it ended. */
export interface LineRun {
    line: string;
    status: number;
    stdout: string;
    stderr: string;
    seconds: number;
}

/**
 * A reader's terminal, one line at a time: each line runs in its own `bash`, and what a line
 * exports (`export X=...`, `source scripts/pulumi-env.sh`) and where it `cd`s carry over to the
 * next, as they would in one interactive shell. One process per line, so every line has its own
 * exit status, output and wall time. stdin is empty unless the line redirects it.
 */
export class ShellSession {
    private readonly stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-shell-"));
    private env: NodeJS.ProcessEnv;
    cwd: string;
    readonly runs: LineRun[] = [];

    constructor(cwd: string, env: NodeJS.ProcessEnv) {
        this.cwd = cwd;
        this.env = env;
    }

    run(line: string, timeoutMs = 900_000): LineRun {
        const envFile = path.join(this.stateDir, "env");
        const cwdFile = path.join(this.stateDir, "cwd");
        fs.rmSync(envFile, { force: true });
        // The line sits alone on its own line of the script, so a trailing `# comment` stays a comment.
        const script = `${line}\n__hh_rc=$?\nenv -0 > '${envFile}'\npwd > '${cwdFile}'\nexit $__hh_rc\n`;
        const t0 = Date.now();
        const r = spawnSync("bash", ["-c", script], {
            cwd: this.cwd, env: this.env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024,
        });
        if (r.error) throw r.error;
        // A line that exits or execs leaves no state: the next line sees the state from before it.
        if (fs.existsSync(envFile)) {
            this.env = Object.fromEntries(fs.readFileSync(envFile, "utf8").split("\0").filter((kv) => kv.includes("="))
                .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
            this.cwd = fs.readFileSync(cwdFile, "utf8").trim();
        }
        const run = { line, status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, seconds: (Date.now() - t0) / 1000 };
        this.runs.push(run);
        return run;
    }

    /** Like `run`, but throws with the line's output when it fails. */
    ok(line: string, timeoutMs?: number): LineRun {
        const r = this.run(line, timeoutMs);
        if (r.status !== 0) throw new Error(`\`${line}\` exited ${r.status}\n${r.stdout}\n${r.stderr}`);
        return r;
    }

    dispose(): void {
        fs.rmSync(this.stateDir, { recursive: true, force: true });
    }
}
