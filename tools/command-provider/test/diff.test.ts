import * as assert from "node:assert/strict";
import { diffInputs, sameValue } from "../src/diff";
import { LOCAL_COMMAND, REMOTE_COMMAND, type ResourceSpec } from "../src/schema";
import { UNKNOWN } from "../src/wire";
import { fileArchiveOf, fileAssetOf, secretOf } from "./support";

function specOf(s: ResourceSpec) {
    return { inputs: Object.keys(s.inputs), replaceOnChanges: s.replaceOnChanges };
}

describe("command provider: diff rules (1.2.1 / infer default Diff)", () => {
    const local = specOf(LOCAL_COMMAND);
    const remote = specOf(REMOTE_COMMAND);

    it("reports no changes when the inputs recorded in the state are the same", () => {
        const olds = { create: "echo hi", environment: { A: "1" }, stdout: "hi", stderr: "" };
        const news = { create: "echo hi", environment: { A: "1" } };
        assert.deepEqual(diffInputs(olds, news, local), { changes: false, replaces: [], diffs: [], deleteBeforeReplace: false });
    });

    it("ignores outputs (stdout/stderr) and internal __ keys", () => {
        const olds = { create: "x", stdout: "old", stderr: "e" };
        const news = { create: "x", __defaults: ["a"] };
        assert.equal(diffInputs(olds, news, local).changes, false);
    });

    it("treats a changed command as an in-place update", () => {
        const d = diffInputs({ create: "echo 1" }, { create: "echo 2" }, local);
        assert.deepEqual(d, { changes: true, replaces: [], diffs: ["create"], deleteBeforeReplace: false });
    });

    it("treats added and removed inputs as updates", () => {
        assert.deepEqual(diffInputs({ create: "x" }, { create: "x", update: "y" }, local).diffs, ["update"]);
        assert.deepEqual(diffInputs({ create: "x", delete: "z" }, { create: "x" }, local).diffs, ["delete"]);
    });

    it("replaces when triggers change, are added or removed", () => {
        assert.deepEqual(diffInputs({ triggers: [1] }, { triggers: [2] }, local).replaces, ["triggers"]);
        assert.deepEqual(diffInputs({}, { triggers: ["a"] }, local).replaces, ["triggers"]);
        assert.deepEqual(diffInputs({ triggers: ["a"] }, {}, local).replaces, ["triggers"]);
        assert.equal(diffInputs({ triggers: ["a", { b: 1 }] }, { triggers: ["a", { b: 1 }] }, local).changes, false);
    });

    it("replaces on triggers for remote commands too, but updates on connection changes", () => {
        const conn = (host: string) => secretOf({ host, port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15 });
        const d = diffInputs({ connection: conn("a"), triggers: [1] }, { connection: conn("b"), triggers: [2] }, remote);
        assert.deepEqual(d.diffs, ["triggers", "connection"]);
        assert.deepEqual(d.replaces, ["triggers"]);
        const c = diffInputs({ connection: conn("a") }, { connection: conn("b") }, remote);
        assert.deepEqual(c.replaces, []);
        assert.equal(c.changes, true);
    });

    it("counts an unknown new value as a change", () => {
        assert.deepEqual(diffInputs({ create: "x" }, { create: UNKNOWN }, local).diffs, ["create"]);
        assert.deepEqual(diffInputs({ environment: { A: "1" } }, { environment: { A: UNKNOWN } }, local).diffs, ["environment"]);
    });

    it("treats null and absent alike", () => {
        assert.equal(diffInputs({ create: "x", dir: null }, { create: "x" }, local).changes, false);
        assert.equal(sameValue({ a: null }, {}), true);
    });

    it("compares through secrets, but a value turning secret is a change", () => {
        assert.equal(sameValue(secretOf("a"), secretOf("a")), true);
        assert.equal(sameValue(secretOf("a"), secretOf("b")), false);
        assert.equal(sameValue("a", secretOf("a")), false);
        assert.equal(sameValue(secretOf({ host: "h", password: "p" }), secretOf({ host: "h", password: "q" })), false);
    });

    it("compares assets and archives (in triggers) by hash when both have one", () => {
        assert.equal(sameValue(fileAssetOf("a.txt", "h1"), fileAssetOf("b.txt", "h1")), true);
        assert.equal(sameValue(fileAssetOf("a.txt", "h1"), fileAssetOf("a.txt", "h2")), false);
        assert.equal(sameValue(fileAssetOf("a.txt"), fileAssetOf("a.txt")), true);
        assert.equal(sameValue(fileAssetOf("a.txt", "h"), fileArchiveOf("a.txt", "h")), false);
    });

    it("distinguishes arrays by order and length", () => {
        assert.equal(sameValue(["/bin/sh", "-c"], ["/bin/sh", "-c"]), true);
        assert.equal(sameValue(["/bin/sh", "-c"], ["-c", "/bin/sh"]), false);
        assert.equal(sameValue(["a"], ["a", "b"]), false);
    });
});
