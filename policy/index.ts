// The policy pack's entry point: `pulumi preview --policy-pack policy` (see policy/README.md).
// Constructing the PolicyPack starts its gRPC server for the engine; the policies live in
// ./policies.ts and their checks in ./checks.ts, which the tests import without starting it.
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("hardened-hosts", {
    description: "Hardened container hosts: userns-remap or rootless runtimes, disjoint in-bounds subordinate ID ranges, no SSH from the Internet, IMDSv2 only.",
    enforcementLevel: "mandatory",
    policies,
});
