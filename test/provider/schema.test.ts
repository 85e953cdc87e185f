import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { SCHEMA } from "../../components/provider/schema";
import { FleetProvider, packageVersion } from "../../components/provider/provider";
import { repoRoot } from "../support/pulumi-cli";

// The component provider's schema: prebuilt by scripts/provider-schema.js from the TypeScript
// argument types (components/provider/fleet-args.ts) with the SDK's own analyzer, served as is.
const T = (name: string) => `hardened-hosts:index:${name}`;
const ref = (name: string) => `#/types/${T(name)}`;
type Prop = { type?: string; $ref?: string; plain?: boolean; secret?: boolean; items?: Prop; additionalProperties?: Prop };
const types = SCHEMA.types as unknown as Record<string, { properties: Record<string, Prop>; required: string[] }>;
const fleet = SCHEMA.resources[T("HardenedFleet") as keyof typeof SCHEMA.resources] as unknown as {
    isComponent: boolean; inputProperties: Record<string, Prop>; requiredInputs: string[]; properties: Record<string, Prop>; required: string[];
};

describe("component provider schema (components/provider/schema.ts)", function () {
    it("is what scripts/provider-schema.js makes from the argument types today (not stale)", function () {
        this.timeout(120_000);
        const r = spawnSync(process.execPath, [path.join(repoRoot, "scripts", "provider-schema.js"), "--check"], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
    });

    it("declares HardenedFleet as a component with hosts required and the fleet's outputs", function () {
        assert.equal(fleet.isComponent, true);
        assert.deepEqual(fleet.requiredInputs, ["hosts"]);
        assert.deepEqual(Object.keys(fleet.inputProperties).sort(), ["hosts", "reportOnly", "reuseRetiredRanges", "tenants"]);
        // Maps that may be Inputs (Go's generator needs that), of plain host and tenant objects.
        assert.deepEqual(fleet.inputProperties.hosts, { ...fleet.inputProperties.hosts, type: "object", additionalProperties: { $ref: ref("FleetHost") } });
        assert.equal(fleet.inputProperties.hosts!.plain, undefined);
        assert.deepEqual(fleet.inputProperties.tenants!.additionalProperties, { $ref: ref("FleetTenant") });
        assert.deepEqual(fleet.required, ["allocation", "containers", "summary", "table", "verification"]);
        assert.equal(fleet.properties.allocation!.additionalProperties!.$ref, ref("AllocatedRange"));
        assert.equal(fleet.properties.verification!.additionalProperties!.$ref, ref("HostVerificationResult"));
        assert.equal(fleet.properties.summary!.$ref, ref("FleetSummaryResult"));
        assert.equal(fleet.properties.table!.type, "string");
    });

    it("a host: address and privateKey required, the key a secret, connection fields may be outputs, shape fields plain", function () {
        const host = types[T("FleetHost")]!;
        assert.deepEqual(host.required, ["address", "privateKey"]);
        assert.equal(host.properties.privateKey!.secret, true);
        for (const f of ["address", "port", "user", "privateKey", "hostKey"]) assert.equal(host.properties[f]!.plain, undefined, f);
        assert.equal(host.properties.port!.type, "number");
        for (const f of ["runtime", "tenants", "verify"]) assert.equal(host.properties[f]!.plain, true, f);
        assert.equal(host.properties.runtime!.$ref, ref("FleetRuntime"));
        assert.deepEqual(host.properties.tenants!.items, { type: "string", plain: true });
    });

    it("a runtime: mode required (a string, checked by the provider), every mode's settings optional", function () {
        const runtime = types[T("FleetRuntime")]!;
        assert.deepEqual(runtime.required, ["mode"]);
        assert.equal(runtime.properties.mode!.type, "string");
        assert.deepEqual(Object.keys(runtime.properties).sort(), [
            "configDir", "createUser", "daemonOptions", "existingContainers", "idsPerPod", "installDocker", "installPodman", "kubeletUnit", "maxPods", "mode",
            "poolOwner", "remapUser", "requireNoContainers", "restartKubelet", "restrictShell", "size", "slots", "takeOverRemap", "user",
        ]);
        assert.deepEqual(runtime.properties.daemonOptions!.additionalProperties, { $ref: "pulumi.json#/Any" });
    });

    it("per-host results: passed, and each check's pass/fail with what was observed and expected", function () {
        assert.deepEqual(types[T("HostVerificationResult")]!.required, ["checks", "expectedRange", "mode", "passed", "runtime"]);
        assert.equal(types[T("HostVerificationResult")]!.properties.checks!.additionalProperties!.$ref, ref("CheckResult"));
        assert.deepEqual(types[T("CheckResult")]!.required, ["expected", "observed", "passed", "severity"]);
        assert.deepEqual(types[T("FleetSummaryResult")]!.required, ["failing", "hostsFailed", "hostsPassed", "warnings"]);
        assert.deepEqual(types[T("AllocatedRange")]!.required, ["count", "start"]);
    });

    it("is served with the package's version", function () {
        const served = JSON.parse(new FleetProvider().schema);
        assert.equal(served.version, packageVersion());
        assert.equal(served.name, "hardened-hosts");
    });
});
