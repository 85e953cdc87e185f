import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseStackConfig } from "../../stacks/config";

// Issue #29: a fleet's hosts in a file next to the stack (`hardened-hosts:hostsFile`), for fleets
// the stack config cannot hold (the engine passes it in one environment variable, capped at
// 128 KiB: about 600 hosts). The same checks and messages as `hardened-hosts:hosts`, named by
// the file and the host's index.
describe("stack config: hostsFile", function () {
    let root: string;
    const from = (values: Record<string, unknown>) => (key: string) => values[key];
    const plan = (values: Record<string, unknown>) => parseStackConfig(from({ machines: "existing", tenants: { "tenant-a": {} }, ...values }), "hardened-hosts", { projectRoot: root });
    const write = (name: string, text: string) => fs.writeFileSync(path.join(root, name), text);
    const hosts = (n: number) => Array.from({ length: n }, (_, i) => ({
        name: `node-${i + 1}`, address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, user: "admin",
        hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0ZXN0a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
        runtime: { mode: "userns-remap" }, tenants: ["tenant-a"],
    }));

    beforeEach(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "hh-hostsfile-"));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    it("reads 1,000 hosts from YAML next to the stack (more than the stack config can carry)", function () {
        const yamlText = `hosts:\n${hosts(1000).map((h) => `  - { name: ${h.name}, address: ${h.address}, user: admin, hostKey: "${h.hostKey}", runtime: { mode: userns-remap }, tenants: [tenant-a] }`).join("\n")}\n`;
        assert.ok(yamlText.length > 128 * 1024, `${yamlText.length} bytes`);
        write("fleet.yaml", yamlText);
        const p = plan({ hostsFile: "fleet.yaml" });
        assert.equal(p.kind, "existing");
        if (p.kind !== "existing") return;
        assert.equal(p.hosts.length, 1000);
        assert.deepEqual(p.hosts[999], { ...hosts(1000)[999], port: 22, privateKeyKey: "sshPrivateKey" });
    });

    it("reads a JSON list the same way", function () {
        write("fleet.json", JSON.stringify(hosts(3)));
        const p = plan({ hostsFile: "fleet.json" });
        assert.equal(p.kind === "existing" && p.hosts.length, 3);
    });

    it("names the file and the host's index for a bad host, with the messages hosts gives", function () {
        const list = hosts(800);
        list[712] = { ...list[712]!, address: "10.0.0.1;reboot" };
        write("fleet.yaml", JSON.stringify({ hosts: list }));
        assert.throws(() => plan({ hostsFile: "fleet.yaml" }), /^ConfigError: fleet\.yaml: hosts\[712\]\.address: "10\.0\.0\.1;reboot" is not a host name or IP address$/m);
        list[712] = list[3]!;
        write("fleet.yaml", JSON.stringify({ hosts: list }));
        assert.throws(() => plan({ hostsFile: "fleet.yaml" }), /fleet\.yaml: hosts\[712\]\.name: "node-4" is used twice/);
    });

    it("refuses a missing or unparsable file, an empty list, and hosts set in both places", function () {
        assert.throws(() => plan({ hostsFile: "nope.yaml" }), /hardened-hosts:hostsFile: .*nope\.yaml cannot be read/);
        write("bad.yaml", "hosts: [\n");
        assert.throws(() => plan({ hostsFile: "bad.yaml" }), /hardened-hosts:hostsFile: .*bad\.yaml is not YAML or JSON/);
        write("empty.yaml", "hosts: []\n");
        assert.throws(() => plan({ hostsFile: "empty.yaml" }), /empty\.yaml: hosts: must be a non-empty list of hosts/);
        write("fleet.yaml", JSON.stringify(hosts(1)));
        assert.throws(() => plan({ hostsFile: "fleet.yaml", hosts: hosts(1) }), /hardened-hosts:hostsFile: and hardened-hosts:hosts are both set/);
        assert.throws(() => plan({ hostsFile: 7 }), /hardened-hosts:hostsFile: must be a file path/);
    });
});
