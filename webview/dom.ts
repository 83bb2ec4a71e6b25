/** A small element builder: the page has no framework, only these helpers. */

type Child = Node | string | number | false | null | undefined;
type Attributes = Record<string, string | number | boolean | undefined | ((event: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, '').toLowerCase(), value);
    else if (name === 'className') element.className = String(value);
    // Through the CSSOM: the CSP (style-src without 'unsafe-inline') blocks style attributes.
    else if (name === 'style') element.style.cssText = String(value);
    else if (name === 'value' && 'value' in element) (element as HTMLInputElement).value = String(value);
    else if (name === 'checked' && element instanceof HTMLInputElement) element.checked = Boolean(value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(parent: Node, children: (Child | Child[])[]): void {
  for (const child of children) {
    if (Array.isArray(child)) append(parent, child);
    else if (child === undefined || child === null || child === false) continue;
    else parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A codicon (from @vscode/codicons), hidden from screen readers: buttons carry their own label. */
export function icon(name: string): HTMLElement {
  return h('span', { className: `codicon codicon-${name}`, 'aria-hidden': 'true' });
}

export function iconButton(name: string, label: string, onClick: () => void, extra: Attributes = {}): HTMLButtonElement {
  return h('button', { type: 'button', className: 'icon-button', title: label, 'aria-label': label, onclick: onClick, ...extra }, icon(name));
}

export function select<T extends string>(
  options: readonly T[] | ReadonlyArray<readonly [T, string]>,
  value: T,
  onChange: (value: T) => void,
  attributes: Attributes = {},
): HTMLSelectElement {
  const element = h('select', { ...attributes, onchange: () => onChange(element.value as T) });
  for (const option of options) {
    const [key, label] = typeof option === 'string' ? [option, option] : option;
    element.appendChild(h('option', { value: key, selected: key === value }, label));
  }
  element.value = value;
  return element;
}

export function labelled(text: string, control: HTMLElement, hint?: string): HTMLLabelElement {
  return h('label', { className: 'field', title: hint }, h('span', { className: 'field-label' }, text), control);
}

export function clear(element: Element): void {
  while (element.firstChild) element.removeChild(element.firstChild);
}
