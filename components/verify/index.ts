/**
 * Post-deploy verification: `verify.sh` observes a host's container runtime, `checks.ts` decides
 * (pure), `HostVerification` runs it over SSH and exports the result.
 */
export type {
    Check,
    DockerInfo,
    Expectations,
    FleetFinding,
    FleetSummary,
    HostResult,
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
    observedMode,
    parseObservations,
} from "./checks";
export { HostVerification } from "./verification";
export type { HostVerificationArgs } from "./verification";
