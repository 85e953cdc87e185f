import * as assert from "node:assert/strict";
import { parseStackConfig } from "../../stacks/config";

const from = (values: Record<string, unknown>) => (key: string) => values[key];

describe("stack config", function () {
    it("defaults to the toolchain probe", function () {
        assert.deepEqual(parseStackConfig(from({})), { kind: "probe" });
    });

    it("reads existing hosts with defaults", function () {
        const plan = parseStackConfig(from({
            machines: "existing",
            tenants: { "tenant-a": {}, "tenant-b": { size: 131072 } },
            hosts: [
                { name: "node-1", address: "203.0.113.10", user: "admin", runtime: { mode: "userns-remap" }, tenants: ["tenant-a"] },
                { name: "node-2", address: "node-2.example.net", port: 2222, runtime: { mode: "podman", user: "builder" } },
            ],
        }));
        assert.equal(plan.kind, "existing");
        if (plan.kind !== "existing") return;
        assert.deepEqual(plan.tenants, { "tenant-a": {}, "tenant-b": { size: 131072 } });
        assert.equal(plan.hosts[0]?.port, 22);
        assert.equal(plan.hosts[1]?.user, "root");
        assert.equal(plan.hosts[1]?.privateKeyKey, "sshPrivateKey");
        assert.deepEqual(plan.hosts[1]?.runtime, { mode: "podman", user: "builder" });
        assert.equal(plan.reportOnly, false);
    });

    const host = { name: "node-1", address: "10.0.0.1" };
    const bad: [string, Record<string, unknown>, RegExp][] = [
        ["an unknown machines kind", { machines: "vagrant" }, /hardened-hosts:machines: "vagrant" is not one of/],
        ["no hosts", { machines: "existing" }, /hardened-hosts:hosts: must be a non-empty list/],
        ["an address with shell characters", { machines: "existing", hosts: [{ ...host, address: "10.0.0.1;reboot" }] }, /hardened-hosts:hosts\[0\]\.address: /],
        ["a port out of range", { machines: "existing", hosts: [{ ...host, port: 70000 }] }, /hardened-hosts:hosts\[0\]\.port: /],
        ["an unknown runtime", { machines: "existing", hosts: [{ ...host, runtime: { mode: "lxc" } }] }, /hardened-hosts:hosts\[0\]\.runtime\.mode: "lxc"/],
        ["a rootless runtime for root", { machines: "existing", hosts: [{ ...host, runtime: { mode: "podman", user: "root" } }] }, /hardened-hosts:hosts\[0\]\.runtime\.user: "root" is not a valid non-root/],
        ["a tenant that is not declared", { machines: "existing", hosts: [{ ...host, tenants: ["ghost"] }] }, /hardened-hosts:hosts\[0\]\.tenants\[0\]: "ghost" is not one of hardened-hosts:tenants/],
        ["a tenant size under 65536", { machines: "existing", tenants: { t: { size: 1000 } }, hosts: [host] }, /hardened-hosts:tenants\.t\.size: must be an integer of at least 65536/],
        ["a host name used twice", { machines: "existing", hosts: [host, host] }, /hardened-hosts:hosts\[1\]\.name: "node-1" is used twice/],
    ];
    for (const [what, values, message] of bad) {
        it(`names the key for ${what}`, function () {
            assert.throws(() => parseStackConfig(from(values)), message);
        });
    }
});
