import * as assert from "node:assert/strict";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { installMachineMocks } from "../machines/support";
import { promiseOf } from "../support/mocks";

// `dependsOn` given to a component reaches the command it runs: the SDK does not pass a
// component's dependsOn on to its children, so each component hands it to its command itself.
// Checked on what the engine receives: each registration's dependency URNs (test/machines/support.ts).
describe("Host components: the inner command waits for the component's dependsOn (mocks)", function () {
    const mocks = installMachineMocks();
    let remap: typeof import("../../components/docker/remap");
    let rootless: typeof import("../../components/rootless/runtime");
    let subids: typeof import("../../components/subids/host-subids");
    let verify: typeof import("../../components/verify/verification");
    const connection = { host: "10.0.0.7", privateKey: "k" };
    const range = { start: 2147483648, count: 65536 };

    before(async function () {
        remap = await import("../../components/docker/remap");
        rootless = await import("../../components/rootless/runtime");
        subids = await import("../../components/subids/host-subids");
        verify = await import("../../components/verify/verification");
    });

    /** The URNs `name` was registered as depending on, once its registration was sent. */
    async function dependenciesOf(resource: pulumi.Resource, name: string): Promise<string[]> {
        await promiseOf(resource.urn);
        const deps = mocks.dependencies.get(name);
        assert.ok(deps, `${name} was registered`);
        return deps;
    }

    /** Each component built standalone with `dependsOn: [x]`, and the name of its command. */
    const components: [string, (name: string, opts: pulumi.ComponentResourceOptions) => { command: pulumi.CustomResource }, string][] = [
        ["HostSubids", (n, o) => new subids.HostSubids(n, { connection, allocation: { alice: range } }, o), "write"],
        ["DockerUsernsRemap", (n, o) => new remap.DockerUsernsRemap(n, { connection, range }, o), "daemon"],
        ["RootlessRuntime", (n, o) => new rootless.RootlessRuntime(n, { connection, mode: "podman", user: "alice", range }, o), "runtime"],
        ["HostVerification", (n, o) => {
            const v = new verify.HostVerification(n, { connection, runtime: "podman", user: "alice", expectedRange: range, reportOnly: true }, o);
            return { command: v.check };
        }, "check"],
    ];

    for (const [kind, make, suffix] of components) {
        it(`${kind}: its command depends on the component's dependsOn`, async function () {
            const name = `dep-${kind.toLowerCase()}`;
            const x = new command.local.Command(`${name}-x`, { create: "true" });
            const c = make(name, { dependsOn: [x] });
            const deps = await dependenciesOf(c.command, `${name}-${suffix}`);
            assert.ok(deps.includes(await promiseOf(x.urn)), `${name}-${suffix} depends on ${deps.join(", ") || "nothing"}`);
        });
    }

    it("takes dependsOn in every form the SDK accepts: one resource, an Output of a list", async function () {
        const one = new command.local.Command("dep-form-one", { create: "true" });
        const listed = new command.local.Command("dep-form-listed", { create: "true" });
        const a = new remap.DockerUsernsRemap("dep-form-a", { connection, range }, { dependsOn: one });
        const b = new remap.DockerUsernsRemap("dep-form-b", { connection, range }, { dependsOn: pulumi.output([listed]) });
        assert.ok((await dependenciesOf(a.command, "dep-form-a-daemon")).includes(await promiseOf(one.urn)));
        assert.ok((await dependenciesOf(b.command, "dep-form-b-daemon")).includes(await promiseOf(listed.urn)));
    });

    it("orders the README's example: docker-remap.sh waits for subids-host.sh (a component in dependsOn)", async function () {
        const s = new subids.HostSubids("readme-subids", { connection, allocation: { dockremap: range } });
        const d = new remap.DockerUsernsRemap("readme-docker", { connection, range }, { dependsOn: [s] });
        // A component in dependsOn stands for the resources under it: here the subids command.
        assert.ok((await dependenciesOf(d.command, "readme-docker-daemon")).includes(await promiseOf(s.command.urn)));
    });

    it("adds nothing when the component has no dependsOn", async function () {
        const c = new remap.DockerUsernsRemap("dep-none", { connection, range });
        assert.deepEqual(await dependenciesOf(c.command, "dep-none-daemon"), []);
    });
});
