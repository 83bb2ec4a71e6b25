/**
 * A model's blocks as a tree, from its modules' state_dict keys: "3.conv.1.0" sits in "3.conv.1",
 * in "3.conv", in "3". Made from the cost model's leaves, so it works for any model the spec
 * resolves (hand-written layers, presets, imported networks whose node names are module paths).
 * Pure functions (no DOM): the block list draws it, the unit tests check it.
 */
import type { Shape } from '../src/shared/spec';

/** What the tree needs of a module (a LeafCost of the cost model has all of it). */
export interface BlockLeaf {
  key: string;
  label: string;
  role: string;
  outShape: Shape;
  params: number;
  macs: number;
}

export interface BlockNode {
  /** The state_dict prefix ("" for the model). */
  key: string;
  /** The last part of the key. */
  name: string;
  /** The module itself, for a leaf. */
  leaf?: BlockLeaf;
  children: BlockNode[];
  /** Sums over the modules inside. */
  params: number;
  macs: number;
  /** The output shape of the last module inside. */
  outShape: Shape;
  /** How many modules of each conv role are inside ("depthwise" -> 2). */
  roles: Record<string, number>;
}

const CONV_ROLES = new Set(['depthwise', 'pointwise', 'standard', 'grouped']);

/** The tree of `leaves` (in execution order; children keep that order). */
export function blockTree(leaves: readonly BlockLeaf[]): BlockNode {
  const root: BlockNode = { key: '', name: '', children: [], params: 0, macs: 0, outShape: [], roles: {} };
  const byKey = new Map<string, BlockNode>([['', root]]);
  for (const leaf of leaves) {
    const parts = leaf.key.split('.');
    let parent = root;
    const chain = [root];
    for (let i = 1; i <= parts.length; i++) {
      const key = parts.slice(0, i).join('.');
      let node = byKey.get(key);
      if (!node) {
        node = { key, name: parts[i - 1]!, children: [], params: 0, macs: 0, outShape: [], roles: {} };
        byKey.set(key, node);
        parent.children.push(node);
      }
      chain.push(node);
      parent = node;
    }
    parent.leaf = leaf;
    for (const node of chain) {
      node.params += leaf.params;
      node.macs += leaf.macs;
      node.outShape = leaf.outShape;
      if (CONV_ROLES.has(leaf.role)) node.roles[leaf.role] = (node.roles[leaf.role] ?? 0) + 1;
    }
  }
  return root;
}

/** A block's kind in a few words: the leaf's label, or its convs by role ("2 depthwise, 3 pointwise"). */
export function describeBlock(node: BlockNode): string {
  if (node.leaf) return node.leaf.label;
  const roles = Object.entries(node.roles).map(([role, count]) => `${count} ${role}`);
  return roles.length ? roles.join(', ') : `${countLeaves(node)} module(s)`;
}

function countLeaves(node: BlockNode): number {
  return (node.leaf ? 1 : 0) + node.children.reduce((a, c) => a + countLeaves(c), 0);
}

/** Whether a module key lies inside the block `key` (or is it). */
export function insideBlock(moduleKey: string, key: string): boolean {
  return key === '' || moduleKey === key || moduleKey.startsWith(`${key}.`);
}

/**
 * Whether a feature map (a step: its own key and the modules it covers) belongs to one of the
 * chosen blocks: a step covers a block's module, or the step is the block's own output (a
 * residual block's skip add). A block inside a fused step (its BatchNorm) shows that step.
 */
export function stepInBlocks(step: { key: string; leafKeys: readonly string[] }, blocks: readonly string[]): boolean {
  return blocks.some((block) => insideBlock(step.key, block) || step.leafKeys.some((leaf) => insideBlock(leaf, block)));
}

/** Whether a step is a conv's (what "every conv" shows). */
export function isConvStep(step: { role: string }): boolean {
  return CONV_ROLES.has(step.role);
}
