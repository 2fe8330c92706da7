// Package typednil tells a nil interface value, or one holding a nil
// pointer (or other nil reference), from a usable one: the check behind
// the "must not be nil" ConfigErrors of breaker, retry and sharedstate,
// where a typed nil passes a plain == nil test and panics on first use.
package typednil

import "reflect"

// Is reports whether v is nil or an interface holding a nil pointer, map,
// slice, function, channel or interface.
func Is(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
