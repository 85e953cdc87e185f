/**
 * Which distributions run which runtime modes (issue #30): host facts (`platform.sh observe`),
 * the decision (pure TypeScript), recorded fact sets of the images the decision knows, and
 * `HostSupport`, the first step of every `HardenedHost`.
 */
export { HostSupport } from "./host-support";
export type { FactsSummary, HostSupportArgs } from "./host-support";
export type { BinaryFact, HostFacts, ProfileFact, SysctlSetter } from "./facts";
export { parseFacts } from "./facts";
export { IMAGE_FACTS, RECORDED, imageSupport, imageSupportProblem } from "./recorded";
export type { RecordedFacts } from "./recorded";
export {
    MAX_USER_NAMESPACES, MIN_VERSION, PROVEN, SUPPORT_MODES, decideSupport, describeDecision, familyOf, fixArgs, packagePlan,
} from "./support";
export type { Family, Fix, PackagePlan, SupportDecision, SupportMode } from "./support";
