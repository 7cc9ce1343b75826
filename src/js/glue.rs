//! The few JS built-ins the bindings use, imported by hand rather than through another
//! crate: objects and arrays for events and header lists, `Error`s, byte copies, and
//! `JSON.stringify` so that an options object is read by the configuration's own reader.
//! Every import lives in wasm-bindgen's own glue module.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// A plain JS object.
    pub type Object;
    #[wasm_bindgen(constructor)]
    pub fn new() -> Object;
}

#[wasm_bindgen]
extern "C" {
    /// A JS array.
    pub type Array;
    #[wasm_bindgen(constructor)]
    pub fn new() -> Array;
    #[wasm_bindgen(method)]
    pub fn push(this: &Array, value: &JsValue) -> u32;
}

#[wasm_bindgen]
extern "C" {
    /// A JS `Error`.
    pub type Error;
    #[wasm_bindgen(constructor)]
    pub fn new(message: &str) -> Error;
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = Reflect, js_name = set, catch)]
    fn reflect_set(target: &JsValue, key: &str, value: &JsValue) -> Result<bool, JsValue>;

    #[wasm_bindgen(js_namespace = JSON, js_name = stringify, catch)]
    fn json_stringify(value: &JsValue) -> Result<JsValue, JsValue>;

    /// A copy of the bytes (the glue hands over a view into wasm memory).
    #[wasm_bindgen(js_namespace = Uint8Array, js_name = from)]
    fn uint8_array_from(bytes: &[u8]) -> JsValue;
}

/// Sets `key` on a plain object (which cannot refuse it).
pub fn set(target: &JsValue, key: &str, value: impl Into<JsValue>) {
    let _ = reflect_set(target, key, &value.into());
}

/// A `Uint8Array` holding a copy of `bytes`.
pub fn bytes(bytes: &[u8]) -> JsValue {
    uint8_array_from(bytes)
}

/// `JSON.stringify(value)`, or None for what JSON cannot say (a cycle, a BigInt, undefined).
pub fn stringify(value: &JsValue) -> Option<String> {
    json_stringify(value).ok().and_then(|s| s.as_string())
}
