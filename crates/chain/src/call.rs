//! Runtime calls as values: what one signed extrinsic carries, and what [`Utility::batch_all`]
//! bundles so that many calls cost one transaction and one block.
//!
//! [`Utility::batch_all`]: crate::Subtensor::batch_all

use subxt::dynamic::Value;

/// The pallet that holds subnets, neurons and weights.
pub(crate) const SUBTENSOR: &str = "SubtensorModule";

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

    /// The call as a `RuntimeCall` value (`Pallet(call(fields))`), as `batch_all` and `sudo` take it.
    pub(crate) fn into_value(self) -> Value {
        Value::unnamed_variant(
            self.pallet,
            [Value::unnamed_variant(self.name, self.fields)],
        )
    }

    /// `Balances::transfer_keep_alive(to, amount)`.
    pub fn transfer(to: [u8; 32], amount_rao: u128) -> Self {
        Call::new(
            "Balances",
            "transfer_keep_alive",
            vec![
                Value::unnamed_variant("Id", [account_value(to)]),
                Value::u128(amount_rao),
            ],
        )
    }

    /// `burned_register(netuid, hotkey)`, signed by the coldkey that pays the burn.
    pub fn burned_register(netuid: u16, hotkey: [u8; 32]) -> Self {
        Call::new(
            SUBTENSOR,
            "burned_register",
            vec![Value::u128(netuid.into()), account_value(hotkey)],
        )
    }

    /// `add_stake(hotkey, netuid, amount)`, signed by the coldkey.
    pub fn add_stake(hotkey: [u8; 32], netuid: u16, amount_rao: u64) -> Self {
        Call::new(
            SUBTENSOR,
            "add_stake",
            vec![
                account_value(hotkey),
                Value::u128(netuid.into()),
                Value::u128(amount_rao.into()),
            ],
        )
    }

    /// `Sudo::sudo(AdminUtils::<name>(args))`: an admin setting, signed by the sudo key. `args`
    /// are the call's fields in order, as unsigned integers or bools.
    pub fn sudo_admin(name: &str, args: Vec<Value>) -> Self {
        let inner = Call::new("AdminUtils", name, args).into_value();
        Call {
            label: name.into(),
            ..Call::new("Sudo", "sudo", vec![inner])
        }
    }
}

/// An AccountId32 as a dynamic value (a 32-byte composite).
pub(crate) fn account_value(id: [u8; 32]) -> Value {
    Value::from_bytes(id)
}
