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

const typebox = (input: JsonSchema): TSchema => {
  const schema = resolve(input)
  if (schema.anyOf !== undefined) return T.Union(schema.anyOf.map(typebox))
  if (schema.not !== undefined) return T.Not(typebox(schema.not))
  if (schema.enum !== undefined) {
    return schema.enum.length === 1 ? T.Literal(schema.enum[0]!) : T.Union(schema.enum.map((e) => T.Literal(e)))
  }
  const range = {
    ...(schema.minimum === undefined ? {} : { minimum: schema.minimum }),
    ...(schema.maximum === undefined ? {} : { maximum: schema.maximum })
  }
  switch (schema.type) {
    case "string":
      return T.String()
    case "integer":
      return T.Integer(range)
    case "number":
      return T.Number(range)
    case "boolean":
      return T.Boolean()
    case "null":
      return T.Null()
    case "array":
      return T.Array(typebox(schema.items ?? {}))
    case "object": {
      const required = new Set(schema.required ?? [])
      const properties = Object.fromEntries(
        Object.entries(schema.properties ?? {}).map(([key, value]) => [
          key,
          required.has(key) ? typebox(value) : T.Optional(typebox(value))
        ])
      )
      const extra = schema.additionalProperties
      if (Object.keys(properties).length === 0 && typeof extra === "object") return T.Record(T.String(), typebox(extra))
      return T.Object(properties, {
        additionalProperties: typeof extra === "object" ? typebox(extra) : extra !== false
      })
    }
    default:
      return T.Unknown()
  }
}

const zod = (input: JsonSchema): z.ZodType => {
  const schema = resolve(input)
  if (schema.anyOf !== undefined) return z.union(schema.anyOf.map(zod) as [z.ZodType, z.ZodType])
  if (schema.enum !== undefined) {
    return schema.enum.length === 1 ? z.literal(schema.enum[0]!) : z.enum(schema.enum as [string, ...Array<string>])
  }
  switch (schema.type) {
    case "string":
      return z.string()
    case "integer": {
      let n = z.number().int()
      if (schema.minimum !== undefined) n = n.min(schema.minimum)
      if (schema.maximum !== undefined) n = n.max(schema.maximum)
      return n
    }
    case "number":
      return z.number()
    case "boolean":
      return z.boolean()
    case "null":
      return z.null()
    case "array":
      return z.array(zod(schema.items ?? {}))
    case "object": {
      const required = new Set(schema.required ?? [])
      const shape = Object.fromEntries(
        Object.entries(schema.properties ?? {}).map(([key, value]) => [
          key,
          required.has(key) ? zod(value) : zod(value).optional()
        ])
      )
      const extra = schema.additionalProperties
      if (Object.keys(shape).length === 0 && typeof extra === "object") return z.record(z.string(), zod(extra))
      // `z.object` drops unknown keys, as the codec does.
      return z.object(shape)
    }
    default:
      return z.unknown()
  }
}

/** TypeBox's compiled checker for the whole `ServerEvent` union, catch-all for unknown types included. */
export const typeboxChecker = TypeCompiler.Compile(T.Union(members.map(typebox)))

/** zod's discriminated union of the known event types (a discriminated union needs a literal tag). */
export const zodUnion = z.discriminatedUnion("type", known.map(zod) as unknown as [z.ZodObject, ...Array<z.ZodObject>])

/** How many event types each peer declares. */
export const declared = { typebox: members.length, zod: known.length }
