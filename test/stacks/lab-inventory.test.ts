import * as assert from "node:assert/strict";
import * as path from "node:path";
import { ConfigError } from "../../stacks/config-error";
import { LabHost, parseLabInventory, readLabInventory, readLabPrivateKey } from "../../stacks/lab-inventory";

const KEY = "hardened-hosts:labInventory";
const fixtures = path.join(__dirname, "fixtures", "lab");
const fixture = (name: string) => path.join(fixtures, name);

// The lab inventory (stacks/lab-inventory.ts) on fixture files: every field checked, every error
// naming the config key, the file, the field, and how to fix it.
describe("lab inventory", function () {
    it("reads the fixture: connection, profile, suite; relative key files from the inventory's directory", function () {
        const inv = readLabInventory(fixture("inventory.json"), KEY);
        assert.equal(inv.file, fixture("inventory.json"));
        assert.deepEqual(inv.hosts.map((h) => [h.name, h.address, h.port, h.user, h.profile, h.suite]), [
            ["lab-1", "127.0.0.1", 22201, "root", "busy", "bookworm"],
            ["lab-2", "127.0.0.1", 22202, "root", "fresh", "bookworm"],
            ["lab-3", "127.0.0.1", 22203, "labadmin", "sudo-user", "trixie"],
        ]);
        assert.equal(inv.hosts[0]!.privateKeyFile, fixture("id_lab"));
        assert.match(inv.hosts[0]!.hostKey ?? "", /^ssh-ed25519 AAAA/);
        assert.equal(inv.hosts[1]!.hostKey, undefined, "hostKey may be absent");
        assert.ok(!("hostKey" in inv.hosts[1]!));
    });

    it("takes absolute key paths as they are, and ignores fields it does not know", function () {
        const text = JSON.stringify({
            version: 1,
            hosts: [{ name: "lab-1", address: "::1", port: 2222, user: "root", privateKeyFile: "/abs/id", profile: "fresh", container: "hh-lab-1" }],
        });
        const inv = parseLabInventory(text, "/somewhere/inventory.json", KEY);
        assert.deepEqual(inv.hosts, [{ name: "lab-1", address: "::1", port: 2222, user: "root", privateKeyFile: "/abs/id", profile: "fresh" }]);
    });

    it("reads a host's private key, and refuses a public key without quoting it", function () {
        const [host] = readLabInventory(fixture("inventory.json"), KEY).hosts;
        assert.match(readLabPrivateKey(host!, KEY), /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
        const pub: LabHost = { ...host!, privateKeyFile: fixture("id_lab.pub") };
        assert.throws(() => readLabPrivateKey(pub, KEY), (e: Error) => {
            assert.ok(e instanceof ConfigError);
            assert.match(e.message, /^hardened-hosts:labInventory: host lab-1: .*id_lab\.pub is a public key; .*run `npm run lab -- up`$/);
            assert.ok(!e.message.includes("AAAAC3Nza"), "the key's content is not quoted");
            return true;
        });
        const gone: LabHost = { ...host!, privateKeyFile: fixture("gone") };
        assert.throws(() => readLabPrivateKey(gone, KEY), /host lab-1: .*gone cannot be read \(ENOENT\)/);
    });

    const files: [string, string, RegExp][] = [
        ["a missing file", "no-such-inventory.json", /no-such-inventory\.json does not exist \(no lab hosts are running\); run `npm run lab -- up`$/],
        ["a truncated file", "not-json.json", /not-json\.json: is not valid JSON \(.*\); run `npm run lab -- up`$/],
        ["another format version", "version-2.json", /version-2\.json: version: 2 is not 1 \(the inventory format this stack reads\); run `npm run lab -- up`$/],
        ["an address with ssh options in it", "bad-address.json", /bad-address\.json: hosts\[0\]\.address: "127\.0\.0\.1 -oProxyCommand=sh" is not a host name or IP address/],
        ["a key file that is not there", "missing-key-file.json", /missing-key-file\.json: hosts\[0\]\.privateKeyFile: .*no-such-key is not a file; run `npm run lab -- up`$/],
    ];
    for (const [what, file, message] of files) {
        it(`refuses ${what}, naming ${KEY} and saying how to fix it`, function () {
            assert.throws(() => readLabInventory(fixture(file), KEY), (e: Error) => {
                assert.ok(e instanceof ConfigError);
                assert.equal(e.key, KEY);
                assert.ok(e.message.startsWith(`${KEY}: `), e.message);
                assert.match(e.message, message);
                assert.match(e.message, /run `npm run lab -- up`/);
                return true;
            });
        });
    }

    const ok = { name: "lab-1", address: "127.0.0.1", port: 22201, user: "root", privateKeyFile: "/k", profile: "busy" };
    const bad: [string, unknown, RegExp][] = [
        ["not an object", [], /is not a JSON object/],
        ["no hosts", { version: 1, hosts: [] }, /hosts: must be a non-empty list of hosts/],
        ["a host that is not an object", { version: 1, hosts: ["lab-1"] }, /hosts\[0\]: must be an object/],
        ["a bad name", { version: 1, hosts: [{ ...ok, name: "Lab 1" }] }, /hosts\[0\]\.name: "Lab 1" must match/],
        ["a name used twice", { version: 1, hosts: [ok, ok] }, /hosts\[1\]\.name: "lab-1" is used twice/],
        ["a port out of range", { version: 1, hosts: [{ ...ok, port: 0 }] }, /hosts\[0\]\.port: 0 is not an integer from 1 to 65535/],
        ["a port as a string", { version: 1, hosts: [{ ...ok, port: "22201" }] }, /hosts\[0\]\.port: "22201" is not an integer/],
        ["a user with shell characters", { version: 1, hosts: [{ ...ok, user: "root;id" }] }, /hosts\[0\]\.user: "root;id" is not a valid login name/],
        ["no key file", { version: 1, hosts: [{ ...ok, privateKeyFile: "" }] }, /hosts\[0\]\.privateKeyFile: "" is not a file path/],
        ["a known_hosts line as host key", { version: 1, hosts: [{ ...ok, hostKey: "[127.0.0.1]:22201 ssh-ed25519 AAAA" }] }, /hosts\[0\]\.hostKey: .* is not a host public key/],
        ["an unknown profile", { version: 1, hosts: [{ ...ok, profile: "huge" }] }, /hosts\[0\]\.profile: "huge" is not one of "fresh", "busy", "sudo-user"/],
        ["a bad suite", { version: 1, hosts: [{ ...ok, suite: "book worm" }] }, /hosts\[0\]\.suite: "book worm" is not a suite name/],
    ];
    for (const [what, data, message] of bad) {
        it(`refuses ${what}`, function () {
            assert.throws(() => parseLabInventory(JSON.stringify(data), "/lab/inventory.json", KEY), (e: Error) => {
                assert.ok(e instanceof ConfigError);
                assert.match(e.message, /^hardened-hosts:labInventory: \/lab\/inventory\.json: /);
                assert.match(e.message, message);
                assert.match(e.message, /; run `npm run lab -- up`$/);
                return true;
            });
        });
    }

    it("reports an unreadable inventory by its error code (a directory here)", function () {
        assert.throws(() => readLabInventory(fixtures, KEY), /hardened-hosts:labInventory: .*\/lab cannot be read \(EISDIR\); run `npm run lab -- up`$/);
    });
});
