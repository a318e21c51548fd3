// Generated from examples/todo-model by ts-rs (tests/typescript.rs);
// do not edit: run `UPDATE_TS=1 cargo test -p todo-model --test typescript`.

export type Todo = { 
/**
 * Chosen by the client that adds it; unique within a list.
 */
id: number | bigint, 
/**
 * What to do.
 */
title: string, 
/**
 * Whether it is done.
 */
done: boolean, };

export type TodoState = { 
/**
 * The items, oldest first.
 */
items: Array<Todo>, };

export type TodoDelta = { "type": "added", 
/**
 * The new item.
 */
item: Todo, } | { "type": "toggled", 
/**
 * Which item.
 */
id: number | bigint, 
/**
 * Its new state.
 */
done: boolean, } | { "type": "removed", 
/**
 * Which item.
 */
id: number | bigint, };

export type TodoAction = { "type": "add", 
/**
 * A new id (the client picks it).
 */
id: number | bigint, 
/**
 * The title.
 */
title: string, } | { "type": "toggle", 
/**
 * Which item.
 */
id: number | bigint, } | { "type": "remove", 
/**
 * Which item.
 */
id: number | bigint, };

export type TodoEvent = { 
/**
 * The user who added it.
 */
by: string, 
/**
 * Its title.
 */
title: string, };
