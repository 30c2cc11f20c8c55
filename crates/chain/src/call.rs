//! Runtime calls as values: what one signed extrinsic carries ([`crate::Subtensor::submit`]), and
//! what a wrapper call (`Utility::batch_all`, `Sudo::sudo`) nests via [`Call::into_value`].

use subxt::dynamic::Value;

/// The pallet that holds subnets, neurons and weights.
pub const SUBTENSOR: &str = "SubtensorModule";

/// One runtime call: pallet, call name and its fields in order (encoded from live metadata).
#[derive(Debug, Clone)]
pub struct Call {
    pub(crate) pallet: String,
    pub(crate) name: String,
    pub(crate) fields: Vec<Value>,
    /// What logs call it: the name, or the admin setting inside a sudo call.
    label: String,
}

impl Call {
    /// Any call, by pallet and name; `fields` in the order the metadata declares them.
    pub fn new(pallet: &str, name: &str, fields: Vec<Value>) -> Self {
        Call {
            pallet: pallet.into(),
            name: name.into(),
            fields,
            label: name.into(),
        }
    }

    /// The call's name for logs: `sudo_set_tempo` rather than `sudo` for an admin setting.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The same call under another name in logs (a wrapper named after what it wraps).
    pub fn with_label(self, label: &str) -> Self {
        Call {
            label: label.into(),
            ..self
        }
    }

    /// The call as a `RuntimeCall` value (`Pallet(call(fields))`), as `batch_all` and `sudo` take it.
    pub fn into_value(self) -> Value {
        Value::unnamed_variant(
            self.pallet,
            [Value::unnamed_variant(self.name, self.fields)],
        )
    }

    /// `burned_register(netuid, hotkey)`, signed by the coldkey that pays the burn.
    pub fn burned_register(netuid: u16, hotkey: [u8; 32]) -> Self {
        // Fields in the order of the shape table (the same on every runtime we know).
        let shape = crate::shapes::BURNED_REGISTER;
        Call::new(
            shape.pallet,
            shape.name,
            vec![Value::u128(netuid.into()), account_value(hotkey)],
        )
    }
}

/// An AccountId32 as a dynamic value (a 32-byte composite).
pub fn account_value(id: [u8; 32]) -> Value {
    Value::from_bytes(id)
}
