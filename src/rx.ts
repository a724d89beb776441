/**
 * The RxJS pieces the library uses, each from its own module. `require('rxjs')` loads every
 * operator RxJS has, about 30 ms of a 120 ms command-line start; these are the very classes and
 * functions that `rxjs` exports (its index re-exports these modules), so values and types mix
 * freely with a user's own `import { Observable } from 'rxjs'`.
 */
export { Observable } from 'rxjs/internal/Observable';
export { Subject } from 'rxjs/internal/Subject';
export { Subscription } from 'rxjs/internal/Subscription';
export { from } from 'rxjs/internal/observable/from';
export { fromEvent } from 'rxjs/internal/observable/fromEvent';
export { map } from 'rxjs/internal/operators/map';
export { takeUntil } from 'rxjs/internal/operators/takeUntil';
export type { OperatorFunction } from 'rxjs/internal/types';
