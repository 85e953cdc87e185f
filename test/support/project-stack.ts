import { spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot } from "./pulumi-cli";

/** Result of one `pulumi` run: exit status and everything it printed. */
export interface StackRun {
    status: number;
    out: string;
    stdout: string;
}

/**
 * A temporary stack of the project's own program (stacks/index.ts) with its own file backend.
 * Its settings file (stacks/Pulumi.<stack>.yaml) and backend are removed by `dispose()`.
 * pulumi runs from another directory (-C names the project): nothing may depend on the cwd.
 * Stacks that read each other (a shard's StackReference to its ledger stack) share one backend:
 * pass the first one's `stateDir` to the others, and dispose of the first last.
 */
export class ProjectStack {
    readonly name = `hh-test-${crypto.randomBytes(3).toString("hex")}`;
    readonly stateDir: string;
    readonly stackFile = path.join(repoRoot, "stacks", `Pulumi.${this.name}.yaml`);
    private readonly ownsState: boolean;

    constructor(opts: { stateDir?: string } = {}) {
        this.ownsState = opts.stateDir === undefined;
        this.stateDir = opts.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "hh-stack-state-"));
        const r = this.pulumi(["stack", "init"]);
        if (r.status !== 0) {
            this.dispose();
            throw new Error(`stack init failed: ${r.out}`);
        }
    }

    /** The bash argv and environment that run `pulumi ARGS` on this stack (for spawn or spawnSync). */
    command(args: string[]): { cmd: string[]; env: NodeJS.ProcessEnv } {
        const script = `source "${repoRoot}/scripts/pulumi-env.sh" && exec pulumi -C "${repoRoot}" --non-interactive --stack ${this.name} "$@"`;
        return {
            cmd: ["-c", script, "pulumi", ...args],
            env: { ...process.env, PULUMI_BACKEND_URL: `file://${this.stateDir}`, PULUMI_CONFIG_PASSPHRASE: "test" },
        };
    }

    /** Every run's transcript and wall time, for a test that wants to say why it was slow. */
    readonly runs: Array<{ args: string[]; started: Date; seconds: number; out: string }> = [];

    pulumi(args: string[]): StackRun {
        const { cmd, env } = this.command(args);
        const t0 = Date.now();
        const r = spawnSync("bash", cmd, { cwd: os.tmpdir(), encoding: "utf8", env, maxBuffer: 256 * 1024 * 1024 });
        this.runs.push({ args, started: new Date(t0), seconds: (Date.now() - t0) / 1000, out: `${r.stdout}${r.stderr}` });
        if (r.error) throw r.error;
        return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
    }

    /** Starts `pulumi ARGS` without waiting: `done` turns true when it ends, `result` resolves then. */
    start(args: string[]): { done: boolean; result: Promise<StackRun> } {
        const handle = { done: false, result: undefined as unknown as Promise<StackRun> };
        const t0 = Date.now();
        handle.result = new Promise((resolve) => {
            const { cmd, env } = this.command(args);
            const child = spawn("bash", cmd, { env, cwd: "/" });
            let stdout = "", stderr = "";
            child.stdout.on("data", (d) => (stdout += d));
            child.stderr.on("data", (d) => (stderr += d));
            child.on("close", (code) => {
                handle.done = true;
                this.runs.push({ args, started: new Date(t0), seconds: (Date.now() - t0) / 1000, out: stdout + stderr });
                resolve({ status: code ?? -1, out: stdout + stderr, stdout });
            });
        });
        return handle;
    }

    /** Like `pulumi()`, but throws with the whole transcript when the command fails. */
    ok(args: string[]): StackRun {
        const r = this.pulumi(args);
        if (r.status !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${r.status}\n${r.out}`);
        return r;
    }

    /** Replaces the stack's config with `yaml` (a `config:` block), keeping its encryption salt. */
    setConfig(yaml: string): void {
        const salt = fs.readFileSync(this.stackFile, "utf8").split("\n").filter((l) => l.startsWith("encryptionsalt:"));
        fs.writeFileSync(this.stackFile, [...salt, yaml].join("\n"));
    }

    /** The stack's outputs (secrets shown), as JSON. */
    outputs(): Record<string, any> {
        return JSON.parse(this.ok(["stack", "output", "--json", "--show-secrets"]).stdout);
    }

    /** `preview --json` steps that change something: [op, urn] pairs. */
    changes(extra: string[] = []): Array<{ op: string; urn: string; diffs?: string[] }> {
        const r = this.ok(["preview", "--json", ...extra]);
        const doc = JSON.parse(r.stdout);
        return (doc.steps ?? []).filter((s: { op: string }) => s.op !== "same")
            .map((s: { op: string; urn: string; diffs?: string[] }) => ({ op: s.op, urn: s.urn, diffs: s.diffs }));
    }

    dispose(): void {
        fs.rmSync(this.stackFile, { force: true });
        if (this.ownsState) fs.rmSync(this.stateDir, { recursive: true, force: true });
    }
}
