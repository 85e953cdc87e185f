import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PulumiRun, repoRoot } from "./pulumi-cli";

/** The tarball `npm pack` makes of this checkout, and what it holds. */
export interface Tarball {
    file: string;
    name: string;
    version: string;
    size: number;
    unpackedSize: number;
    files: string[];
}

let packed: Tarball | undefined;
let packDir: string | undefined;

/**
 * `npm pack` of this checkout, once per test run (removed at exit). dist/ must be built from the
 * checkout's sources (`npm test` builds it first): packing without running `prepack` again keeps
 * a test from rebuilding dist/ under another test's feet.
 */
export function packTarball(): Tarball {
    if (packed) return packed;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(path.join(repoRoot, "scripts", "source-digest.js")).checkFresh(repoRoot);
    packDir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-pack-"));
    process.on("exit", () => fs.rmSync(packDir!, { recursive: true, force: true }));
    const r = spawnSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", packDir], { cwd: repoRoot, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`npm pack: ${r.stderr}`);
    const [info] = JSON.parse(r.stdout) as { filename: string; name: string; version: string; size: number; unpackedSize: number; files: { path: string }[] }[];
    packed = {
        file: path.join(packDir, info!.filename),
        name: info!.name,
        version: info!.version,
        size: info!.size,
        unpackedSize: info!.unpackedSize,
        files: info!.files.map((f) => f.path).sort(),
    };
    return packed;
}

/** The Pulumi TypeScript template's tsconfig (`pulumi new typescript`): strict, type-checked by ts-node. */
const TEMPLATE_TSCONFIG = {
    compilerOptions: {
        strict: true,
        outDir: "bin",
        target: "es2020",
        module: "commonjs",
        moduleResolution: "node",
        sourceMap: true,
        experimentalDecorators: true,
        pretty: true,
        noFallthroughCasesInSwitch: true,
        noImplicitReturns: true,
        forceConsistentCasingInFileNames: true,
    },
    files: ["index.ts"],
};

/**
 * A user's own Pulumi TypeScript project in a temp directory, as `pulumi new typescript` makes
 * one (Pulumi.yaml with the default ts-node runtime, type-checking on), with the package installed
 * from the tarball by npm, as a user installs it: its own node_modules, nothing of this checkout's.
 * `dispose()` removes it.
 */
export class ConsumerProject {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-consumer-"));
    readonly stateDir = path.join(this.dir, ".state");

    constructor(readonly program: string, readonly name = "edge-fleet") {
        fs.mkdirSync(this.stateDir);
        fs.writeFileSync(path.join(this.dir, "Pulumi.yaml"), `name: ${name}\nruntime: nodejs\ndescription: A user's fleet, hardened by the hardened-hosts package\n`);
        fs.writeFileSync(path.join(this.dir, "tsconfig.json"), `${JSON.stringify(TEMPLATE_TSCONFIG, null, 4)}\n`);
        fs.writeFileSync(path.join(this.dir, "index.ts"), program);
        fs.writeFileSync(path.join(this.dir, "package.json"), `${JSON.stringify({
            name,
            main: "index.ts",
            // The SDK version this repository is tested with; typescript 5 as the template has it (7 breaks npm here).
            dependencies: { "@pulumi/pulumi": "3.270.0" },
            devDependencies: { "@types/node": "^20.19.0", typescript: "~5.9.3" },
        }, null, 2)}\n`);
    }

    /** `npm install ARGS` in the project; throws with npm's output when it fails. */
    npm(...args: string[]): string {
        const r = spawnSync("npm", [...args, "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], {
            cwd: this.dir, encoding: "utf8", timeout: 600_000,
        });
        if (r.status !== 0) throw new Error(`npm ${args.join(" ")} in ${this.dir} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
        return r.stdout;
    }

    /** Bytes under node_modules (what the user pulled in). */
    installedBytes(): number {
        const r = spawnSync("du", ["-sb", path.join(this.dir, "node_modules")], { encoding: "utf8" });
        return Number(r.stdout.split("\t")[0]);
    }

    /** Runs `node -e CODE` in the project (its own node_modules). */
    node(code: string): { status: number; stdout: string; stderr: string } {
        const r = spawnSync(process.execPath, ["-e", code], { cwd: this.dir, encoding: "utf8" });
        return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    }

    /**
     * `pulumi ARGS` with this repository's offline toolchain (scripts/pulumi-env.sh: engine, plugin
     * home, no downloads) and the project's own file backend. TypeScript is type-checked, as by
     * default: the toolchain's transpile-only setting (for this repository's fixtures) is dropped.
     */
    pulumi(args: string[], env: Record<string, string> = {}): PulumiRun {
        const script = `source "${repoRoot}/scripts/pulumi-env.sh" && unset PULUMI_NODEJS_TRANSPILE_ONLY && exec pulumi --non-interactive "$@"`;
        const r = spawnSync("bash", ["-c", script, "pulumi", ...args], {
            cwd: this.dir,
            encoding: "utf8",
            env: {
                ...process.env,
                PULUMI_NODEJS_TRANSPILE_ONLY: "",
                PULUMI_BACKEND_URL: `file://${this.stateDir}`,
                PULUMI_CONFIG_PASSPHRASE: "consumer",
                ...env,
            },
            maxBuffer: 256 * 1024 * 1024,
            timeout: 900_000,
        });
        if (r.error) throw r.error;
        return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    }

    /** Like `pulumi()`, but throws with the whole transcript when the command fails. */
    ok(args: string[], env: Record<string, string> = {}): PulumiRun {
        const r = this.pulumi(args, env);
        if (r.status !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
        return r;
    }

    dispose(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}
