/**
 * The model as a collapsible list of its blocks (blockTree.ts), for models too large to edit
 * field by field (whole networks, imported ones): each block shows its kind, output shape, params
 * and MACs, and a check box that puts its feature maps in the feature map view.
 */
import { formatCount, formatShape } from '../src/shared/format';
import { blockTree, describeBlock, type BlockLeaf, type BlockNode } from './blockTree';
import { clear, h } from './dom';

export interface BlockListActions {
  /** The blocks whose feature maps are chosen. */
  chosen(): readonly string[];
  choose(keys: string[]): void;
}

export class BlockList {
  private tree: BlockNode | undefined;
  /** Blocks the user opened: they stay open when the list is drawn again (after a run, a setting). */
  private readonly open = new Set<string>();

  constructor(
    private readonly root: HTMLElement,
    private readonly actions: BlockListActions,
  ) {}

  /** Shows the blocks of these modules (the cost model's leaves), or says why there are none. */
  show(leaves: readonly BlockLeaf[] | undefined, error?: string): void {
    const scrolled = this.root.querySelector('.block-list')?.scrollTop ?? 0;
    clear(this.root);
    if (!leaves) {
      this.tree = undefined;
      this.root.append(h('p', { className: 'muted' }, error ? `The blocks cannot be listed: ${error}` : 'No model.'));
      return;
    }
    this.tree = blockTree(leaves);
    const chosen = new Set(this.actions.chosen());
    const list = h('ul', { className: 'block-list', role: 'tree', 'aria-label': 'Blocks of the model' });
    for (const child of this.tree.children) list.append(this.item(child, chosen));
    this.root.append(
      h(
        'p',
        { className: 'muted' },
        `${leaves.length} modules, ${formatCount(this.tree.params)} params, ${formatCount(this.tree.macs)} MACs. Tick a block to see its feature maps.`,
      ),
      list,
    );
    list.scrollTop = scrolled;
  }

  /** Forgets which blocks were open (another model). */
  reset(): void {
    this.open.clear();
  }

  private item(node: BlockNode, chosen: Set<string>): HTMLElement {
    const box = h('input', {
      type: 'checkbox',
      className: 'block-choose',
      checked: chosen.has(node.key),
      'data-key': node.key,
      'aria-label': `Show the feature maps of ${node.key}`,
    });
    box.addEventListener('change', () => {
      const keys = new Set(this.actions.chosen());
      if (box.checked) keys.add(node.key);
      else keys.delete(node.key);
      this.actions.choose([...keys]);
    });
    const line = h(
      'span',
      { className: 'block-line' },
      box,
      h('span', { className: 'block-name' }, node.key),
      h('span', { className: `block-kind${node.leaf ? ` role-${node.leaf.role}` : ''}` }, describeBlock(node)),
      h('span', { className: 'muted' }, formatShape(node.outShape)),
      node.params > 0 ? h('span', { className: 'muted' }, `${formatCount(node.params)} params`) : undefined,
      node.macs > 0 ? h('span', { className: 'muted' }, `${formatCount(node.macs)} MACs`) : undefined,
    );
    if (node.children.length === 0) return h('li', { role: 'treeitem', className: 'block-leaf', 'data-key': node.key }, line);
    const details = h('details', { open: this.open.has(node.key) }, h('summary', {}, line));
    details.addEventListener('toggle', () => (details.open ? this.open.add(node.key) : this.open.delete(node.key)));
    const children = h('ul', { role: 'group' });
    for (const child of node.children) children.append(this.item(child, chosen));
    details.append(children);
    return h('li', { role: 'treeitem', 'data-key': node.key }, details);
  }
}
