/**
 * Three small DOM helpers: `h` builds an element, `sync` makes a parent's children exactly a list
 * (touching only those that differ), and `memo` rebuilds an element only when its inputs changed.
 * SessionState shares structure between states, so "changed" is an identity check: a text_delta
 * rebuilds the text it grew, and the tool calls, requests and other turns keep their elements.
 */

type Child = Node | string | number | null | undefined | false
type Attrs = Record<string, string | number | boolean | undefined | ((event: Event) => void)>

export const h = (tag: string, attrs: Attrs = {}, ...children: ReadonlyArray<Child>): HTMLElement => {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value)
    else if (value === true) el.setAttribute(name, "")
    else el.setAttribute(name, String(value))
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    el.append(typeof child === "object" ? child : String(child))
  }
  return el
}

/** Makes `parent`'s children exactly `children`, in order. */
export const sync = (parent: Element, children: ReadonlyArray<Node>) => {
  children.forEach((child, i) => {
    if (parent.childNodes[i] !== child) parent.insertBefore(child, parent.childNodes[i] ?? null)
  })
  while (parent.childNodes.length > children.length) parent.lastChild!.remove()
}

/** Rebuilds the element for `key` only when one of its inputs is a different value. */
export const memo = <Inputs extends ReadonlyArray<unknown>>(render: (...inputs: Inputs) => HTMLElement) => {
  const cache = new Map<string, { readonly inputs: Inputs; readonly el: HTMLElement }>()
  return (key: string, ...inputs: Inputs): HTMLElement => {
    const hit = cache.get(key)
    if (hit?.inputs.every((input, i) => input === inputs[i])) return hit.el
    const el = render(...inputs)
    cache.set(key, { inputs, el })
    return el
  }
}
