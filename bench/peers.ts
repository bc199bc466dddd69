/**
 * The peers of the codec benchmark, zod 4 and TypeBox, built from the protocol's JSON Schema
 * (generated from the Effect Schemas): every server event, in the order of the `ServerEvent` union,
 * as a user of either library would declare them. Nothing about a message is written here by hand.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Type as T, type TSchema } from "@sinclair/typebox"
import { TypeCompiler } from "@sinclair/typebox/compiler"
import { z } from "zod"

interface JsonSchema {
  readonly type?: string
  readonly $ref?: string
  readonly anyOf?: ReadonlyArray<JsonSchema>
  readonly enum?: ReadonlyArray<string>
  readonly not?: JsonSchema
  readonly minimum?: number
  readonly maximum?: number
  readonly items?: JsonSchema
  readonly required?: ReadonlyArray<string>
  readonly properties?: Readonly<Record<string, JsonSchema>>
  readonly additionalProperties?: boolean | JsonSchema
}

const file = path.join(path.dirname(fileURLToPath(import.meta.url)), "../packages/protocol/schema/protocol.schema.json")
const defs = (JSON.parse(fs.readFileSync(file, "utf8")) as { $defs: Record<string, JsonSchema> }).$defs
const resolve = (schema: JsonSchema): JsonSchema =>
  schema.$ref === undefined ? schema : resolve(defs[schema.$ref.slice("#/$defs/".length)]!)
const members = defs.ServerEvent!.anyOf!.map(resolve)
/** The known event types; the union's last member is the catch-all for unknown types. */
const known = members.filter((member) => member.properties?.type?.enum !== undefined)

/** How one library spells each JSON Schema construct the protocol uses. */
interface Builders<S> {
  readonly union: (members: Array<S>) => S
  readonly not: (schema: S) => S
  readonly literals: (values: ReadonlyArray<string>) => S
  readonly string: () => S
  readonly integer: (minimum?: number, maximum?: number) => S
  readonly number: () => S
  readonly boolean: () => S
  readonly null: () => S
  readonly array: (items: S) => S
  readonly record: (values: S) => S
  readonly object: (properties: Record<string, S>, required: ReadonlySet<string>, extra: boolean | S) => S
  readonly unknown: () => S
}

const build =
  <S>(b: Builders<S>) =>
  (input: JsonSchema): S => {
    const go = build(b)
    const schema = resolve(input)
    if (schema.anyOf !== undefined) return b.union(schema.anyOf.map(go))
    if (schema.not !== undefined) return b.not(go(schema.not))
    if (schema.enum !== undefined) return b.literals(schema.enum)
    switch (schema.type) {
      case "string":
        return b.string()
      case "integer":
        return b.integer(schema.minimum, schema.maximum)
      case "number":
        return b.number()
      case "boolean":
        return b.boolean()
      case "null":
        return b.null()
      case "array":
        return b.array(go(schema.items ?? {}))
      case "object": {
        const properties = Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, v]) => [k, go(v)]))
        const extra = schema.additionalProperties
        const extraSchema = typeof extra === "object" ? go(extra) : extra !== false
        if (Object.keys(properties).length === 0 && typeof extra === "object") return b.record(extraSchema as S)
        return b.object(properties, new Set(schema.required ?? []), extraSchema)
      }
      default:
        return b.unknown()
    }
  }

const typebox = build<TSchema>({
  union: (members) => T.Union(members),
  not: (schema) => T.Not(schema),
  literals: (values) => (values.length === 1 ? T.Literal(values[0]!) : T.Union(values.map((v) => T.Literal(v)))),
  string: () => T.String(),
  integer: (minimum, maximum) =>
    T.Integer({ ...(minimum === undefined ? {} : { minimum }), ...(maximum === undefined ? {} : { maximum }) }),
  number: () => T.Number(),
  boolean: () => T.Boolean(),
  null: () => T.Null(),
  array: (items) => T.Array(items),
  record: (values) => T.Record(T.String(), values),
  object: (properties, required, extra) =>
    T.Object(Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, required.has(k) ? v : T.Optional(v)])), {
      additionalProperties: extra
    }),
  unknown: () => T.Unknown()
})

const zod = build<z.ZodType>({
  union: (members) => z.union(members as [z.ZodType, z.ZodType]),
  // Only the unknown-type catch-all uses `not`; zod's discriminated union leaves it out.
  not: () => z.never(),
  literals: (values) => (values.length === 1 ? z.literal(values[0]!) : z.enum(values as [string, ...Array<string>])),
  string: () => z.string(),
  integer: (minimum, maximum) => {
    let n = z.number().int()
    if (minimum !== undefined) n = n.min(minimum)
    if (maximum !== undefined) n = n.max(maximum)
    return n
  },
  number: () => z.number(),
  boolean: () => z.boolean(),
  null: () => z.null(),
  array: (items) => z.array(items),
  record: (values) => z.record(z.string(), values),
  // `z.object` drops unknown keys, as the codec does.
  object: (properties, required) =>
    z.object(Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, required.has(k) ? v : v.optional()]))),
  unknown: () => z.unknown()
})

/**
 * A weaker baseline, kept for comparison with earlier results: TypeBox's compiled checker for the
 * whole `ServerEvent` union, catch-all included, which tries the members in order (`text_delta` is
 * the 28th of 55).
 */
export const typeboxUnion = TypeCompiler.Compile(T.Union(members.map(typebox)))

const checkers: Record<string, { readonly Check: (value: unknown) => boolean }> = Object.create(null)
let unknownChecker: { readonly Check: (value: unknown) => boolean } | undefined
for (const member of members) {
  const type = member.properties?.type?.enum?.[0]
  const checker = TypeCompiler.Compile(typebox(member))
  if (type === undefined) unknownChecker = checker
  else checkers[type] = checker
}

/**
 * The fair TypeBox peer: one compiled checker per event type, picked by the frame's `type` (what a
 * user who knows the protocol is tagged would write: `checkers[v.type].Check(v)`); the catch-all
 * checker for other types.
 */
export const typeboxByType = (value: { readonly type?: unknown }): boolean =>
  (checkers[value.type as string] ?? unknownChecker!).Check(value)

/** zod's discriminated union of the known event types (a discriminated union needs a literal tag). */
export const zodUnion = z.discriminatedUnion("type", known.map(zod) as unknown as [z.ZodObject, ...Array<z.ZodObject>])

/** How many event types each peer declares. */
export const declared = { typebox: members.length, zod: known.length, typeboxTypes: Object.keys(checkers).length }
