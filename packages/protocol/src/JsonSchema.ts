/**
 * The JSON Schema (draft 2020-12) of the protocol, generated from the Effect Schemas. The checked-in
 * copy is `packages/protocol/schema/protocol.schema.json`; a test fails when it is stale.
 *
 * @since 0.1.0
 */
import * as JSONSchema from "effect/JSONSchema"
import * as ClientMessage from "./ClientMessage.js"
import * as ServerEvent from "./ServerEvent.js"

/**
 * A document whose `$defs` hold `ClientMessage`, `ServerEvent` and every shape they use. Extra
 * properties are allowed, as the decoders tolerate (and drop) them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (): Record<string, unknown> => {
  const definitions: Record<string, any> = {}
  const options = {
    definitions,
    target: "jsonSchema2020-12",
    additionalPropertiesStrategy: "allow"
  } as const
  JSONSchema.fromAST(ClientMessage.ClientMessage.ast, options)
  JSONSchema.fromAST(ServerEvent.ServerEvent.ast, options)
  const sorted = Object.fromEntries(
    Object.keys(definitions)
      .sort()
      .map((key) => [key, definitions[key]])
  )
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "https://diminuendo.dev/schemas/protocol.schema.json",
    title: "Diminuendo gateway wire protocol",
    description:
      "One JSON object per WebSocket text frame. A client sends a ClientMessage; the gateway sends a ServerEvent. Integers must be safe (|n| <= 2^53-1).",
    anyOf: [{ $ref: "#/$defs/ClientMessage" }, { $ref: "#/$defs/ServerEvent" }],
    $defs: sorted
  }
}

/**
 * The document as the checked-in file holds it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const render = (): string => `${JSON.stringify(make(), null, 2)}\n`
