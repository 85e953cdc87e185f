/**
 * Post-deploy verification: `verify.sh` observes a host's container runtime, `checks.ts` decides
 * (pure), `HostVerification` runs it over SSH and exports the result; `HostCheck` (the dynamic
 * resource under it) re-observes on every refresh and repairs drifted steps on the next up.
 */
export type {
    Check,
    DockerInfo,
    Expectations,
    FleetFinding,
    FleetSummary,
    HostResult,
    HostSummary,
    ImageObservation,
    Observations,
    PodmanInfo,
    RunningContainer,
    SubidObservation,
    VerifyRuntime,
} from "./checks";
export {
    VERIFY_RUNTIMES,
    VerifyError,
    evaluateChecks,
    failedChecks,
    failureMessage,
    fleetSummary,
    hostResult,
    hostSummary,
    observedMode,
    parseObservations,
} from "./checks";
export { driftLines, repairPlan, stepFor } from "./host-check";
export type { HostStep, HostStepInput } from "./host-check";
export { HostVerification } from "./verification";
export type { HostVerificationArgs } from "./verification";
