/**
 * Package figures (issue #27): `npm run bench:package`. Prints, measured in one run:
 *   - the `npm pack` tarball's size and file count;
 *   - what a user's project pulls in: node_modules after installing the tarball (with
 *     @pulumi/pulumi 3.270.0 and TypeScript, as `pulumi new typescript` has them), and after
 *     adding @pulumi/aws 7.48.0 for `hardened-hosts/ec2`;
 *   - a no-change `pulumi preview` (median of five, with the range) of the same four-host fleet
 *     (the dev stack's: lab-1 userns-remap, lab-2 rootless Docker, lab-3 rootless Podman through
 *     sudo, lab-4 podman-auto; tenant-a and tenant-b) from a user's TypeScript program with the
 *     package installed, from a Pulumi YAML program through the component provider, and from
 *     this repository's own stack program.
 * One lab of four hosts ("pkgb", ports 22520..), each program's stack up, timed, destroyed in turn;
 * everything is removed at the end, or first thing when the bench is stopped (lab-bench.ts).
 * dist/ must be built (`npm run build`).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConsumerProject, packTarball } from "../test/support/consumer";
import { TestLab } from "../test/support/lab";
import { ProjectStack } from "../test/support/project-stack";
import { PulumiRun, ScratchProject, repoRoot } from "../test/support/pulumi-cli";
import { cleanupOnce, labStackConfig, runBench } from "./lab-bench";

const RUNS = 5;
const HOSTS = [
    ["lab-1", "{ mode: userns-remap, daemonOptions: { no-new-privileges: true }, existingContainers: stop }", "userns-remap"],
    ["lab-2", "{ mode: docker-rootless, user: dockeruser }", "docker-rootless"],
    ["lab-3", "{ mode: podman, user: podmanuser }", "podman"],
    ["lab-4", "{ mode: podman-auto, slots: 16, size: 65536 }", "podman-auto"],
] as const;
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

/** The TypeScript program: the dev stack's fleet, hosts and runtimes from the stack config. */
const TS_PROGRAM = `import * as pulumi from "@pulumi/pulumi";
import { FleetHostSpec, HardenedFleet, RuntimeSpec } from "hardened-hosts";

interface HostConfig { name: string; address: string; port: number; user: string; hostKey: string; runtime: RuntimeSpec; tenants: string[] }
const config = new pulumi.Config();
const privateKey = config.requireSecret("sshPrivateKey");
const hosts: Record<string, FleetHostSpec> = {};
for (const h of config.requireObject<HostConfig[]>("hosts")) {
    hosts[h.name] = { connection: { host: h.address, port: h.port, user: h.user, privateKey, hostKey: h.hostKey }, runtime: h.runtime, tenants: h.tenants };
}
const fleet = new HardenedFleet("fleet", { tenants: { "tenant-a": {}, "tenant-b": { size: 131072 } }, hosts });
export const summary = fleet.summary;
`;

function yamlProgram(lab: TestLab): string {
    const host = ([name, runtime]: readonly [string, string, string], i: number) => {
        const h = lab.inventory.hosts[i]!;
        return `        ${name}:
          address: ${h.address}
          port: ${h.port}
          user: ${h.user}
          hostKey: "${h.hostKey}"
          privateKey: \${sshKey}
          runtime: ${runtime}
          tenants: [tenant-a, tenant-b]`;
    };
    return `name: yaml-fleet
runtime: yaml
config:
  sshKey: { type: string, secret: true }
resources:
  fleet:
    type: hardened-hosts:index:HardenedFleet
    properties:
      tenants:
        tenant-a: {}
        tenant-b: { size: 131072 }
      hosts:
${HOSTS.map(host).join("\n")}
outputs:
  summary: \${fleet.summary}
`;
}

function must(r: PulumiRun, what: string): PulumiRun {
    if (r.status !== 0) throw new Error(`${what} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    return r;
}

/**
 * CPU seconds of this process's waited-for children so far (cutime + cstime of /proc/self/stat,
 * in clock ticks of 1/100 s): every pulumi run and the processes it waited for.
 */
function childCpu(): number {
    const stat = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
    return (Number(stat[13]) + Number(stat[14])) / 100;
}

/** Median and range of RUNS no-change previews (wall), and their median CPU (all processes). */
function previews(run: () => PulumiRun): string {
    const times: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < RUNS; i++) {
        const t0 = process.hrtime.bigint();
        const c0 = childCpu();
        must(run(), "no-change preview");
        times.push(Number(process.hrtime.bigint() - t0) / 1e9);
        cpu.push(childCpu() - c0);
    }
    times.sort((a, b) => a - b);
    cpu.sort((a, b) => a - b);
    const mid = Math.floor(RUNS / 2);
    return `${times[mid]!.toFixed(2)} s (${times[0]!.toFixed(2)}-${times[RUNS - 1]!.toFixed(2)}), ${cpu[mid]!.toFixed(2)} s CPU`;
}

runBench(async () => {
    const tarball = packTarball();
    console.log(`tarball: ${(tarball.size / 1024).toFixed(0)} KB packed, ${(tarball.unpackedSize / 1024).toFixed(0)} KB unpacked, ${tarball.files.length} files`);

    const lab = new TestLab({ name: "pkgb", portBase: 22520, net: 76, hosts: HOSTS.length });
    const ts = new ConsumerProject(TS_PROGRAM, "ts-fleet");
    const yamlDir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-bench-yaml-"));
    let yaml: ScratchProject | undefined;
    let stack: ProjectStack | undefined;
    const cleanup = cleanupOnce(() => {
        for (const [what, step] of [
            ["ts destroy", () => ts.pulumi(["destroy", "--yes", "--skip-preview"])],
            ["yaml destroy", () => yaml?.pulumi(["destroy", "--yes", "--skip-preview"])],
            ["stack destroy", () => stack?.pulumi(["destroy", "--yes", "--skip-preview"])],
            ["dispose", () => { ts.dispose(); yaml?.dispose(); stack?.dispose(); fs.rmSync(yamlDir, { recursive: true, force: true }); }],
            ["lab down", () => lab.down()],
        ] as const) {
            try { step(); } catch (e) { console.error(`${what}: ${(e as Error).message}`); }
        }
    });
    try {
        ts.npm("install", tarball.file);
        const without = ts.installedBytes();
        ts.npm("install", "@pulumi/aws@7.48.0");
        console.log(`a user's node_modules: ${mb(without)} without EC2, ${mb(ts.installedBytes())} with @pulumi/aws 7.48.0`);
        ts.npm("uninstall", "@pulumi/aws");

        lab.up();
        const key = fs.readFileSync(lab.inventory.hosts[0]!.privateKeyFile, "utf8");

        // The user's TypeScript program (type-checked by ts-node, as by default).
        must(ts.pulumi(["stack", "init", "dev"]), "stack init");
        HOSTS.forEach(([name, , mode], i) => {
            const h = lab.inventory.hosts[i]!;
            const set = (k: string, v: string) => must(ts.pulumi(["config", "set", "--path", `hosts[${i}].${k}`, v]), "config set");
            set("name", name); set("address", h.address); set("port", String(h.port)); set("user", h.user); set("hostKey", h.hostKey);
            set("runtime.mode", mode);
            if (mode === "userns-remap") set("runtime.existingContainers", "stop"); // the busy host's containers (#28)
            if (mode === "docker-rootless") set("runtime.user", "dockeruser");
            if (mode === "podman") set("runtime.user", "podmanuser");
            set("tenants[0]", "tenant-a"); set("tenants[1]", "tenant-b");
        });
        must(spawnSync("bash", ["-c", `source "${repoRoot}/scripts/pulumi-env.sh" && pulumi config set --secret sshPrivateKey`],
            { cwd: ts.dir, input: key, encoding: "utf8", env: { ...process.env, PULUMI_BACKEND_URL: `file://${ts.stateDir}`, PULUMI_CONFIG_PASSPHRASE: "consumer" } }) as PulumiRun, "key");
        must(ts.pulumi(["up", "--yes", "--skip-preview"]), "ts up");
        const tsFigure = previews(() => ts.pulumi(["preview"]));
        // The same without ts-node's type-check (PULUMI_NODEJS_TRANSPILE_ONLY): what type-checking costs.
        const tsFast = previews(() => ts.pulumi(["preview"], { PULUMI_NODEJS_TRANSPILE_ONLY: "true" }));
        must(ts.pulumi(["destroy", "--yes", "--skip-preview"]), "ts destroy");
        console.log(`no-change preview, TypeScript program with the package installed: ${tsFigure} type-checked (ts-node's default), ${tsFast} transpile-only`);

        // The same fleet from Pulumi YAML, through the component provider.
        must(spawnSync("bash", ["-c", `source "${repoRoot}/scripts/pulumi-env.sh" && bash "${repoRoot}/components/provider/install.sh"`], { encoding: "utf8" }) as PulumiRun, "provider install");
        fs.writeFileSync(path.join(yamlDir, "Pulumi.yaml"), yamlProgram(lab));
        yaml = new ScratchProject(yamlDir);
        must(yaml.pulumi(["stack", "init", "dev"]), "yaml stack init");
        must(yaml.pulumi(["config", "set", "--secret", "sshKey"], { input: key }), "yaml key");
        must(yaml.pulumi(["up", "--yes", "--skip-preview"]), "yaml up");
        const yamlFigure = previews(() => yaml!.pulumi(["preview"]));
        must(yaml.pulumi(["destroy", "--yes", "--skip-preview"]), "yaml destroy");
        console.log(`no-change preview, Pulumi YAML program through the component provider: ${yamlFigure}`);

        // This repository's own stack program on the same hosts.
        stack = new ProjectStack();
        stack.setConfig(labStackConfig(lab.inventoryFile, HOSTS.map(([, rt], i) => [lab.inventory.hosts[i]!.name, rt]))
            .replace("    tenant-a: {}\n", "    tenant-a: {}\n    tenant-b: { size: 131072 }\n")
            .replace(/tenants: \[tenant-a\]/g, "tenants: [tenant-a, tenant-b]"));
        must(stack.pulumi(["up", "--yes", "--skip-preview"]) as unknown as PulumiRun, "stack up");
        const own = previews(() => stack!.pulumi(["preview"]) as unknown as PulumiRun);
        console.log(`no-change preview, this repository's stack program: ${own}`);
    } finally {
        cleanup();
    }
});
