import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The repository root (this file lives in test/support/). */
export const repoRoot = path.resolve(__dirname, "..", "..");

/** Result of one `pulumi` invocation. */
export interface PulumiRun {
    status: number;
    stdout: string;
    stderr: string;
}

/**
 * A throw-away Pulumi project: a copy of a fixture folder with its own file backend, sharing the
 * project's node_modules and plugin home. `dispose()` removes everything it made.
 */
export class ScratchProject {
    readonly dir: string;
    readonly stateDir: string;

    constructor(fixture: string, private readonly env: Record<string, string> = {}) {
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-project-"));
        this.stateDir = path.join(this.dir, ".state");
        fs.mkdirSync(this.stateDir);
        fs.cpSync(fixture, this.dir, { recursive: true });
        fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(this.dir, "node_modules"));
    }

    /** Runs `pulumi <args>` in the project with the offline settings of scripts/pulumi-env.sh. */
    pulumi(args: string[], opts: { input?: string } = {}): PulumiRun {
        // pulumi-env.sh is the one place that knows the offline settings; args travel as "$@".
        const script = `source "${repoRoot}/scripts/pulumi-env.sh" && exec pulumi --non-interactive "$@"`;
        const r = spawnSync("bash", ["-c", script, "pulumi", ...args], {
            cwd: this.dir,
            input: opts.input,
            encoding: "utf8",
            env: {
                ...process.env,
                PULUMI_BACKEND_URL: `file://${this.stateDir}`,
                PULUMI_CONFIG_PASSPHRASE: "scratch",
                ...this.env,
            },
            maxBuffer: 64 * 1024 * 1024,
        });
        if (r.error) throw r.error;
        return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    }

    /** Like `pulumi()`, but throws with the whole transcript when the command fails. */
    ok(args: string[]): PulumiRun {
        const r = this.pulumi(args);
        if (r.status !== 0) {
            throw new Error(`pulumi ${args.join(" ")} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
        }
        return r;
    }

    dispose(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}
