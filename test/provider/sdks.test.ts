import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FleetProvider } from "../../components/provider/provider";
import { repoRoot } from "../support/pulumi-cli";

// Issue #27: the component provider's schema makes Python and Go SDKs that compile. Generated
// into a temp dir, never committed. `pulumi package gen-sdk --language python|go` hands the work to
// the Python and Go language hosts, which cannot be built here (the Go module proxy refuses their
// modules); hh-sdk-gen (tools/sdk-gen/, built by scripts/pulumi-toolchain.sh) calls the same code
// generators of pkg/v3 they call. The Go SDK builds against github.com/pulumi/pulumi/sdk/v3 at the
// engine's version (in the module cache since the engine build), with the engine build's flags so
// its build cache serves most packages.

/** Runs a command with the offline settings; throws with its output when it fails. */
function sh(script: string, cwd: string, env: Record<string, string> = {}): { out: string; seconds: number } {
    const t0 = Date.now();
    const r = spawnSync("bash", ["-c", `source "${repoRoot}/scripts/pulumi-env.sh" && ${script}`], {
        cwd, encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 64 << 20,
    });
    const out = `${r.stdout}${r.stderr}`;
    if (r.status !== 0) throw new Error(`${script} exited ${r.status}\n${out}`);
    return { out, seconds: (Date.now() - t0) / 1000 };
}

function filesUnder(dir: string, ext: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
        .filter((e) => e.isFile() && e.name.endsWith(ext))
        .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

describe("component provider: Python and Go SDKs from its schema compile", function () {
    this.timeout(900_000);
    let dir = "";
    const schema = () => path.join(dir, "schema.json");

    before(function () {
        const missing = ["hh-sdk-gen", "go", "python3", "pulumi"].filter((t) =>
            spawnSync("bash", ["-c", `source "${repoRoot}/scripts/pulumi-env.sh" && command -v ${t}`]).status !== 0);
        if (missing.length > 0) {
            if (process.env.CI) throw new Error(`missing: ${missing.join(", ")} (bash scripts/pulumi-toolchain.sh)`);
            this.skip();
        }
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-sdks-"));
        fs.writeFileSync(schema(), new FleetProvider().schema);
    });
    after(function () {
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("the installed plugin serves the same schema (pulumi package get-schema)", function () {
        sh(`bash "${repoRoot}/components/provider/install.sh"`, dir);
        const plugin = path.join(repoRoot, "components", "provider", "pulumi-resource-hardened-hosts");
        const served = JSON.parse(sh(`pulumi package get-schema "${plugin}"`, dir).out.replace(/^[^{]*/, ""));
        // The engine re-serializes it (empty lists dropped, `config: {}` added): compare the shape.
        type Obj = { properties?: Record<string, { secret?: boolean }>; required?: string[]; inputProperties?: Record<string, unknown>; requiredInputs?: string[] };
        const shape = (s: { name: string; version: string; resources: Record<string, Obj>; types: Record<string, Obj> }) => ({
            name: s.name,
            version: s.version,
            resources: Object.fromEntries(Object.entries(s.resources).map(([k, r]) => [k, {
                inputs: Object.keys(r.inputProperties ?? {}).sort(), requiredInputs: r.requiredInputs ?? [],
                outputs: Object.keys(r.properties ?? {}).sort(), required: r.required ?? [],
            }])),
            types: Object.fromEntries(Object.entries(s.types).map(([k, t]) => [k, {
                properties: Object.keys(t.properties ?? {}).sort(), required: t.required ?? [],
                secret: Object.keys(t.properties ?? {}).filter((p) => t.properties![p]!.secret),
            }])),
        });
        assert.deepEqual(shape(served), shape(JSON.parse(fs.readFileSync(schema(), "utf8"))));
    });

    it("Python: every generated module compiles (python3 -m py_compile)", function () {
        const gen = sh(`hh-sdk-gen schema.json python python`, dir);
        const files = filesUnder(path.join(dir, "python"), ".py");
        assert.ok(files.some((f) => f.endsWith(path.join("pulumi_hardened_hosts", "hardened_fleet.py"))), files.join("\n"));
        const fleet = fs.readFileSync(path.join(dir, "python", "pulumi_hardened_hosts", "hardened_fleet.py"), "utf8");
        assert.match(fleet, /class HardenedFleet\(pulumi\.ComponentResource\)/);
        assert.match(fs.readFileSync(path.join(dir, "python", "pulumi_hardened_hosts", "_inputs.py"), "utf8"), /private_key/);
        const compile = sh(`python3 -m py_compile ${files.map((f) => `'${f}'`).join(" ")}`, dir);
        console.log(`      python: generated in ${gen.seconds.toFixed(1)} s, ${files.length} modules compiled in ${compile.seconds.toFixed(1)} s`);
    });

    it("Go: the generated package builds (go build ./...)", function () {
        const gen = sh(`hh-sdk-gen schema.json go go`, dir);
        const pkgDir = path.join(dir, "go", "hardenedhosts");
        const fleet = fs.readFileSync(path.join(pkgDir, "hardenedFleet.go"), "utf8");
        assert.match(fleet, /func NewHardenedFleet\(/);
        // Its own module, under the import path the generator used (example.com/... by default).
        const imported = /"([^"]+)\/internal"/.exec(fleet)![1]!;
        const sdkVersion = sh(`echo "$HH_PULUMI_VERSION"`, dir).out.trim();
        fs.writeFileSync(path.join(pkgDir, "go.mod"), `module ${imported}\n\ngo 1.25\n\nrequire github.com/pulumi/pulumi/sdk/v3 v${sdkVersion}\n`);
        const build = sh(`CGO_ENABLED=0 go build -trimpath -tags osusergo,grpcnotrace ./...`, pkgDir, { GOFLAGS: "-mod=mod -buildvcs=false" });
        console.log(`      go: generated in ${gen.seconds.toFixed(1)} s, built in ${build.seconds.toFixed(1)} s`);
    });
});
