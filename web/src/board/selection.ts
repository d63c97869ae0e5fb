/**
 * Draws selections: this page's (dashed, with resize handles when there is
 * one shape and the page may edit) and everyone else's, outlined in their
 * colour from awareness. Sizes are in screen pixels whatever the zoom.
 */
import { s } from '../dom';
import type { Corner } from './gestures';
import type { Shape } from './model';
import type { PresenceState } from './presence';

const CORNERS: Corner[] = ['nw', 'ne', 'sw', 'se'];

export interface SelectionView {
  shape(id: string): Shape | undefined;
  mine: string[];
  others: PresenceState[];
  zoom: number;
  handles: boolean;
}

export function drawSelection(layer: SVGGElement, view: SelectionView): void {
  // Redraw only when something drawn changes, so handles stay the same
  // elements while the pointer holds them.
  const box = (id: string): unknown => {
    const shape = view.shape(id);
    return shape && [id, shape.x, shape.y, shape.w, shape.h];
  };
  const signature = JSON.stringify([
    view.zoom,
    view.handles,
    view.mine.map(box),
    view.others.map((state) => [state.user.color, state.selection.map(box)]),
  ]);
  if (layer.dataset.drawn === signature) return;
  layer.dataset.drawn = signature;
  const pad = 4 / view.zoom;
  const boxes: SVGElement[] = [];
  const outline = (shape: Shape, attrs: Record<string, string>): SVGRectElement =>
    s('rect', {
      x: shape.x - pad,
      y: shape.y - pad,
      width: shape.w + 2 * pad,
      height: shape.h + 2 * pad,
      fill: 'none',
      'vector-effect': 'non-scaling-stroke',
      'pointer-events': 'none',
      ...attrs,
    });
  for (const state of view.others) {
    for (const id of state.selection) {
      const shape = view.shape(id);
      if (shape) boxes.push(outline(shape, { stroke: state.user.color, 'stroke-width': '2', 'data-testid': 'remote-selection' }));
    }
  }
  for (const id of view.mine) {
    const shape = view.shape(id);
    if (shape) boxes.push(outline(shape, { stroke: '#4263eb', 'stroke-dasharray': '5 3', 'data-testid': 'selection-box' }));
  }
  const only = view.mine.length === 1 ? view.shape(view.mine[0] ?? '') : undefined;
  if (only && view.handles) {
    const size = 10 / view.zoom;
    for (const corner of CORNERS) {
      const cx = corner.endsWith('w') ? only.x - pad : only.x + only.w + pad;
      const cy = corner.startsWith('n') ? only.y - pad : only.y + only.h + pad;
      boxes.push(
        s('rect', {
          class: `handle handle-${corner}`,
          'data-testid': 'resize-handle',
          'data-corner': corner,
          x: cx - size / 2,
          y: cy - size / 2,
          width: size,
          height: size,
          'vector-effect': 'non-scaling-stroke',
        }),
      );
    }
  }
  layer.replaceChildren(...boxes);
}
