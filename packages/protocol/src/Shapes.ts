/**
 * The shapes shared by several messages: sessions, identities, history, files, questions, members.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { FiniteNumber, JsonObject, NonNegativeInt, OpenEnum, Timestamp } from "./Primitives.js"

const exact = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

/**
 * `inactive | ready | running` (seed) and `provisioning | waiting | error` (design); open.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SessionStatus = OpenEnum(
  "SessionStatus",
  "inactive",
  "ready",
  "running",
  "provisioning",
  "waiting",
  "error"
)
/**
 * @since 0.1.0
 * @category models
 */
export type SessionStatus = typeof SessionStatus.Type

/**
 * @since 0.1.0
 * @category schemas
 */
export const SessionMeta = Schema.Struct({
  id: Schema.String,
  tenantId: Schema.String,
  name: Schema.NullOr(Schema.String),
  agentType: Schema.String,
  status: SessionStatus,
  archived: Schema.Boolean,
  createdAt: Timestamp,
  updatedAt: Timestamp,
  lastActivityAt: Schema.NullOr(Timestamp)
}).annotations({ identifier: "SessionMeta" })
/**
 * @since 0.1.0
 * @category models
 */
export interface SessionMeta extends Schema.Schema.Type<typeof SessionMeta> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const Identity = Schema.Struct({
  userId: Schema.String,
  email: Schema.String,
  tenantId: Schema.String
}).annotations({ identifier: "Identity" })
/**
 * @since 0.1.0
 * @category models
 */
export interface Identity extends Schema.Schema.Type<typeof Identity> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const HistoryRole = OpenEnum("HistoryRole", "user", "assistant", "system", "tool")

/**
 * @since 0.1.0
 * @category schemas
 */
export const HistoryMessage = Schema.Struct({
  id: Schema.String,
  role: HistoryRole,
  content: Schema.String,
  createdAt: Timestamp,
  metadata: exact(JsonObject)
}).annotations({ identifier: "HistoryMessage" })
/**
 * @since 0.1.0
 * @category models
 */
export interface HistoryMessage extends Schema.Schema.Type<typeof HistoryMessage> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const TurnStatus = OpenEnum("TurnStatus", "running", "waiting", "stopping")

/**
 * The turn in progress when a client joins.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TurnSnapshot = Schema.Struct({
  turnId: Schema.String,
  status: TurnStatus,
  text: Schema.String,
  startedAt: Timestamp
}).annotations({ identifier: "TurnSnapshot" })
/**
 * @since 0.1.0
 * @category models
 */
export interface TurnSnapshot extends Schema.Schema.Type<typeof TurnSnapshot> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const SandboxStatus = OpenEnum("SandboxStatus", "initializing", "provisioning", "ready", "removed")

/**
 * @since 0.1.0
 * @category schemas
 */
export const SandboxInfo = Schema.Struct({
  sandboxId: Schema.String,
  status: SandboxStatus
}).annotations({ identifier: "SandboxInfo" })
/**
 * @since 0.1.0
 * @category models
 */
export interface SandboxInfo extends Schema.Schema.Type<typeof SandboxInfo> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const FileEntry = Schema.Struct({
  path: Schema.String,
  name: Schema.String,
  kind: Schema.Literal("file", "directory"),
  size: exact(NonNegativeInt)
}).annotations({ identifier: "FileEntry" })
/**
 * @since 0.1.0
 * @category models
 */
export interface FileEntry extends Schema.Schema.Type<typeof FileEntry> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const FileVersion = Schema.Struct({
  iteration: NonNegativeInt,
  timestamp: Timestamp,
  size: NonNegativeInt,
  hash: Schema.String
}).annotations({ identifier: "FileVersion" })
/**
 * @since 0.1.0
 * @category models
 */
export interface FileVersion extends Schema.Schema.Type<typeof FileVersion> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const Question = Schema.Struct({
  id: Schema.String,
  prompt: Schema.String,
  options: exact(Schema.Array(Schema.String)),
  allowFreeText: exact(Schema.Boolean)
}).annotations({ identifier: "Question" })
/**
 * @since 0.1.0
 * @category models
 */
export interface Question extends Schema.Schema.Type<typeof Question> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const MemberRole = OpenEnum("MemberRole", "owner", "admin", "member", "viewer")

/**
 * @since 0.1.0
 * @category schemas
 */
export const Member = Schema.Struct({
  userId: Schema.String,
  email: Schema.String,
  role: MemberRole
}).annotations({ identifier: "Member" })
/**
 * @since 0.1.0
 * @category models
 */
export interface Member extends Schema.Schema.Type<typeof Member> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const FileEncoding = Schema.Literal("utf-8", "base64").annotations({ identifier: "FileEncoding" })

/**
 * Optional-field helper used by every message schema: the key may be absent, never `undefined`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const optional = exact

/**
 * Marks a field this project added to an event the seeds define (design). Such a field is
 * optional on the wire: a gateway built from the seeds alone never sends it, and a client must work
 * without it. The annotation's value says what the client does when it is absent; PROTOCOL.md's
 * reference and the testkit's seed profile are derived from it.
 *
 * @since 0.2.0
 * @category annotations
 */
export const AdditionId: unique symbol = Symbol.for("@diminuendo/protocol/Addition")

/**
 * An optional field marked with {@link AdditionId}: `whenAbsent` is what a client does without it.
 *
 * @since 0.2.0
 * @category constructors
 */
export const addition = <S extends Schema.Schema.All>(schema: S, whenAbsent: string) =>
  exact(schema).annotations({ [AdditionId]: whenAbsent })

/**
 * A finite number in 0..1 (sandbox provisioning progress).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Progress = FiniteNumber.pipe(Schema.between(0, 1)).annotations({
  identifier: "Progress",
  description: "a number between 0 and 1",
  arbitrary: () => (fc) => fc.double({ min: 0, max: 1, noNaN: true }).map((n) => (n === 0 ? 0 : n))
})
