import * as AST from "effect/SchemaAST"

/**
 * The `type` literal of a message schema built with `Schema.tag`.
 *
 * @internal
 */
export const typeName = <S extends { readonly ast: AST.AST; readonly Type: { readonly type: string } }>(
  schema: S
): S["Type"]["type"] => {
  const signature = AST.getPropertySignatures(schema.ast).find((p) => p.name === "type")
  if (signature === undefined || !AST.isLiteral(signature.type)) {
    throw new Error(`schema ${String(schema.ast)} has no literal "type"`)
  }
  return signature.type.literal as S["Type"]["type"]
}
