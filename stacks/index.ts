import * as command from "@pulumi/command";

// The main job of the default `dev` stack. Until the local test hosts exist (issue 8) it only
// proves that the offline toolchain works end to end: engine, Node.js language host and the
// Command provider, creating one real resource on this machine.
const probe = new command.local.Command("toolchain-probe", {
    create: "uname -srm",
});

/** Kernel of the machine that ran `pulumi up`, as seen by the Command provider. */
export const kernel = probe.stdout;
