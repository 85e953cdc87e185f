import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { sshdMissing, ThrowawaySshd } from "../support/sshd";

const repoRoot = path.resolve(__dirname, "..", "..");

/** Finds an executable on PATH or in the given extra directories. */
function findTool(name: string, extraDirs: string[]): string | undefined {
    for (const dir of [...(process.env.PATH ?? "").split(path.delimiter), ...extraDirs]) {
        const candidate = path.join(dir, name);
        try {
            fs.accessSync(candidate, fs.constants.X_OK);
            return candidate;
        } catch {
            // keep looking
        }
    }
    return undefined;
}

const PROGRAM = `"use strict";
const fs = require("fs");
const pulumi = require("@pulumi/pulumi");
const command = require("@pulumi/command");
const cfg = new pulumi.Config();
const sshd = JSON.parse(fs.readFileSync(cfg.require("sshdFile"), "utf8"));
const out = cfg.require("outDir");
const message = cfg.get("message") || "hello";
const local = new command.local.Command("local", {
    create: 'echo "local $MESSAGE from $(pwd)"',
    environment: { MESSAGE: message },
});
const connection = { host: "127.0.0.1", port: sshd.port, user: sshd.user, privateKey: pulumi.secret(sshd.key), hostKey: sshd.hostKey };
const remote = new command.remote.Command("remote", {
    connection,
    create: pulumi.interpolate\`echo "\${local.stdout}" > \${out}/remote.txt && echo "HH_MSG=$HH_MSG"\`,
    delete: \`rm -f \${out}/remote.txt\`,
    environment: { HH_MSG: message },
});
exports.localStdout = local.stdout;
exports.remoteStdout = remote.stdout;
`;

// The whole chain with the real engine: install.sh puts the plugin into a fresh PULUMI_HOME, the
// engine finds it for @pulumi/command@1.2.1, and a Node.js program runs preview / up / preview
// (no changes) / update / destroy against a throw-away sshd. Skipped when the engine, its Node.js
// language host or sshd is missing.
describe("command provider: end to end with the Pulumi engine", function () {
    this.timeout(300_000);
    // The toolchain scripts/bootstrap.sh builds: where scripts/pulumi-env.sh (the one place that
    // knows) says it is.
    const toolchainDir = spawnSync("bash", ["-c", 'source scripts/pulumi-env.sh >/dev/null && printf %s "$HH_TOOLCHAIN_DIR"'], {
        cwd: repoRoot, encoding: "utf8",
    }).stdout;
    const toolDirs = [toolchainDir ? path.join(toolchainDir, "bin") : ""].filter(Boolean);
    let tmp: string | undefined;
    let sshd: ThrowawaySshd | undefined;
    let env: NodeJS.ProcessEnv;
    let project: string;
    let out: string;

    function pulumi(...args: string[]) {
        const r = spawnSync("pulumi", ["--non-interactive", ...args], { cwd: project, env, encoding: "utf8", maxBuffer: 64 << 20 });
        if (r.error) throw r.error;
        if (r.status !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
        return r.stdout;
    }

    before(async function () {
        const engine = findTool("pulumi", toolDirs);
        const languageHost = findTool("pulumi-language-nodejs", toolDirs);
        const missing = !engine ? "the pulumi CLI" : !languageHost ? "pulumi-language-nodejs" : sshdMissing();
        if (missing) {
            // CI installs all of it: there a missing tool is a failure, not a reason to skip.
            if (process.env.CI) throw new Error(`${missing} not found (scripts/bootstrap.sh installs it)`);
            console.log(`      skipping the engine test: ${missing} not found`);
            this.skip();
        }
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hh-cmd-e2e-"));
        project = path.join(tmp, "project");
        out = path.join(tmp, "out");
        fs.mkdirSync(project);
        fs.mkdirSync(out);
        fs.mkdirSync(path.join(tmp, "state"));
        env = {
            ...process.env,
            PULUMI_HOME: path.join(tmp, "home"),
            PULUMI_BACKEND_URL: `file://${path.join(tmp, "state")}`,
            PULUMI_CONFIG_PASSPHRASE: "",
            PULUMI_SKIP_UPDATE_CHECK: "true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
            PATH: [path.dirname(engine!), path.dirname(languageHost!), process.env.PATH].join(path.delimiter),
        };
        delete env.SSH_AUTH_SOCK;
        const install = spawnSync(path.join(repoRoot, "tools/command-provider/install.sh"), { env, encoding: "utf8" });
        assert.equal(install.status, 0, `install.sh failed:\n${install.stdout}\n${install.stderr}`);

        sshd = await ThrowawaySshd.start({ acceptEnv: ["HH_*", "PULUMI_COMMAND_*"] });
        const sshdFile = path.join(tmp, "sshd.json");
        fs.writeFileSync(sshdFile, JSON.stringify({ port: sshd.port, user: sshd.user, key: sshd.clientKey, hostKey: sshd.hostKey }), { mode: 0o600 });
        fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: hh-command-e2e\nruntime: nodejs\nmain: index.js\n");
        fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "hh-command-e2e", private: true, main: "index.js" }));
        fs.writeFileSync(path.join(project, "index.js"), PROGRAM);
        fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(project, "node_modules"));
        pulumi("stack", "init", "dev");
        pulumi("config", "set", "sshdFile", sshdFile);
        pulumi("config", "set", "outDir", out);
    });

    after(async () => {
        if (tmp && env) spawnSync("pulumi", ["--non-interactive", "destroy", "--yes", "--skip-preview"], { cwd: project, env });
        await sshd?.stop();
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("previews without running anything", () => {
        const stdout = pulumi("preview");
        assert.match(stdout, /\+\s+command:remote:Command\s+remote\s+create/);
        assert.equal(fs.existsSync(path.join(out, "remote.txt")), false);
    });

    it("creates: the local command runs in the project directory, the remote one over SSH", () => {
        pulumi("up", "--yes", "--skip-preview");
        const outputs = JSON.parse(pulumi("stack", "output", "--json"));
        assert.equal(outputs.localStdout, `local hello from ${fs.realpathSync(project)}`);
        assert.equal(outputs.remoteStdout, "HH_MSG=hello");
        assert.equal(fs.readFileSync(path.join(out, "remote.txt"), "utf8"), `local hello from ${fs.realpathSync(project)}\n`);
        const state = pulumi("stack", "export");
        assert.doesNotMatch(state, /PRIVATE KEY/, "the private key is encrypted in the state");
    });

    it("shows no changes on a second preview", () => {
        pulumi("preview", "--expect-no-changes");
    });

    it("updates in place when an input changes", () => {
        pulumi("config", "set", "message", "changed");
        pulumi("up", "--yes", "--skip-preview");
        const outputs = JSON.parse(pulumi("stack", "output", "--json"));
        assert.equal(outputs.remoteStdout, "HH_MSG=changed");
    });

    it("destroys, running the delete command", () => {
        pulumi("destroy", "--yes", "--skip-preview");
        assert.equal(fs.existsSync(path.join(out, "remote.txt")), false);
    });
});
