//! Reading a source's request bodies with that source's defaults (SEMANTICS §10).

use super::Dialect;
use super::keep::{BEAUTY_KEPT, CLINIC_KEPT, read_each, read_keeping};
use crate::error::{Error, Result};
use crate::model::{CustomerId, CustomerPatch, Field, IdentityInput, ResolveRequest};
use serde_json::Value;

/// The identity types 000's customer fields stand for, in the order they are listed.
const CLINIC_IDENTITY_FIELDS: &[(Field, &str)] = &[(Field::Idcard, "idcard"), (Field::Mrn, "mrn")];

impl Dialect {
    /// Reads a create-with-identities body of this source, with its defaults:
    ///
    /// - 002 `customerandidentities`: `{"customer", "customerIdentities"}`; it also matches
    ///   by the customer's mobile and email (`matchByFields` on unless the body says `false`);
    /// - 001 `createCustomerByIdentity`: the flat body (`identityList`, `openId` / `appId`,
    ///   `unionId`, `extendAttrList`, `isEmployee` inverted);
    /// - 000 `POST /customer/v1/customer`: the customer object, whose `idcard` and `mrn` are
    ///   its identities (in that order) and whose mobile is matched as 002 matches it;
    /// - 003 `addCustomer`: its parameters as an object (`name`, `telnum`, `erpId`, `sex`,
    ///   `birthday`, `channelName`, …), identified by the mobile alone.
    ///
    /// A body in another source's shape (002's nesting for 001, a flat body for 002) is an
    /// [`Error::Payload`].
    ///
    /// ```
    /// use oneid::dialect::Dialect;
    /// let body = serde_json::json!({"shopId": "s1", "name": "王五", "mobile": "13800138000", "idcard": "110101199003071234"});
    /// let request = Dialect::Clinic.read_resolve(&body).unwrap();
    /// assert_eq!(request.identities[0].identity_type, "idcard");
    /// assert!(request.options.match_by_fields);
    /// ```
    pub fn read_resolve(self, body: &Value) -> Result<ResolveRequest> {
        let map = body
            .as_object()
            .ok_or_else(|| Error::Payload("a resolve request must be a JSON object".into()))?;
        let nested = map.contains_key("customer") || map.contains_key("customerIdentities");
        match self {
            Dialect::DmHub => {
                if !nested && !map.is_empty() {
                    return Err(Error::Payload(
                        "002's create with identities is {\"customer\": {…}, \"customerIdentities\": [{…}]}"
                            .into(),
                    ));
                }
                let mut request = ResolveRequest::from_json(body)?;
                if !map.contains_key("matchByFields") {
                    request.options.match_by_fields = true;
                }
                Ok(request)
            }
            Dialect::Baiyao => {
                if nested {
                    return Err(Error::Payload(
                        "001's createCustomerByIdentity body is flat: the customer's fields beside identityList".into(),
                    ));
                }
                ResolveRequest::from_json(body)
            }
            Dialect::Clinic => {
                let patch = self.read_patch(body)?;
                let identities: Vec<IdentityInput> = CLINIC_IDENTITY_FIELDS
                    .iter()
                    .filter_map(|(field, kind)| {
                        patch.fields.text(*field).map(|v| IdentityInput::new(*kind, v))
                    })
                    .collect();
                let mut request = ResolveRequest::new(identities).with_patch(patch);
                request.options.match_by_fields = true;
                Ok(request)
            }
            Dialect::Beauty => {
                let patch = self.read_patch(body)?;
                let identities = patch
                    .fields
                    .text(Field::Mobile)
                    .map(|m| IdentityInput::new(crate::IdentityType::MOBILE, m));
                Ok(ResolveRequest::new(identities).with_patch(patch))
            }
        }
    }

    /// Reads a customer object of this source (a plain create's or an update's body):
    ///
    /// - 002 and 000 read as [`CustomerPatch::from_json`] reads them, 000's `status` kept as
    ///   the extended attribute `status`;
    /// - 001 reads its flat body: `isEmployee` inverted, its keys without a field
    ///   (`editable`, `source1`…) kept as extended attributes;
    /// - 003 reads `addCustomer`'s parameters and `getCusInfoByCusId`'s keys; those without
    ///   a field (`channelUserName`, `preConsultName`, `description`, `telnum1`, `gold`, …)
    ///   are kept as extended attributes of the same name.
    ///
    /// ```
    /// use oneid::{Field, FieldValue};
    /// use oneid::dialect::Dialect;
    /// let body = serde_json::json!({"name": "李", "isEmployee": 0});
    /// let patch = Dialect::Baiyao.read_patch(&body).unwrap();
    /// assert_eq!(patch.fields.get(Field::IsEmployee), Some(&FieldValue::Bool(true)));
    /// ```
    pub fn read_patch(self, body: &Value) -> Result<CustomerPatch> {
        match self {
            Dialect::DmHub => CustomerPatch::from_json(body),
            Dialect::Clinic => read_keeping(body, CLINIC_KEPT),
            Dialect::Beauty => read_keeping(body, BEAUTY_KEPT),
            Dialect::Baiyao => read_each(body, crate::model::read_flat_key),
        }
    }

    /// The value to store for one attribute this source names (001 `updateCustomerAttr`'s
    /// `attrName` / `attrValue`): 001's `isEmployee` is inverted (`0` or `"0"` means yes); any
    /// other value is passed on as it is, to be type-checked by
    /// [`Resolver::update_attribute`](crate::Resolver::update_attribute).
    ///
    /// ```
    /// use oneid::dialect::Dialect;
    /// use serde_json::json;
    /// assert_eq!(Dialect::Baiyao.read_attribute("isEmployee", &json!("0")).unwrap(), json!(true));
    /// assert_eq!(Dialect::DmHub.read_attribute("isEmployee", &json!(0)).unwrap(), json!(0));
    /// ```
    pub fn read_attribute(self, name: &str, value: &Value) -> Result<Value> {
        if self == Dialect::Baiyao && name == Field::IsEmployee.name() {
            return Ok(crate::model::read_inverted_flag(value)?.map_or(Value::Null, Value::Bool));
        }
        Ok(value.clone())
    }

    /// Reads an add-identity body: 002 `customeridentities`' `{"customerId", "identityType",
    /// "identityValue", "identityName"}` (the id as text or a number), or an identity alone
    /// (no `customerId`: `None`).
    ///
    /// ```
    /// use oneid::CustomerId;
    /// use oneid::dialect::Dialect;
    /// let body = serde_json::json!({"customerId": "123456", "identityType": "myshop-account", "identityValue": "user12345"});
    /// let (owner, identity) = Dialect::DmHub.read_identity(&body).unwrap();
    /// assert_eq!(owner, Some(CustomerId(123456)));
    /// assert_eq!(identity.identity_value, "user12345");
    /// ```
    pub fn read_identity(self, body: &Value) -> Result<(Option<CustomerId>, IdentityInput)> {
        crate::model::check_depth(body)?;
        let mut map = body
            .as_object()
            .cloned()
            .ok_or_else(|| Error::Payload("an identity must be a JSON object".into()))?;
        let owner = match map.remove("customerId") {
            None | Some(Value::Null) => None,
            Some(v) => Some(super::values::customer_id("customerId", &v)?),
        };
        let identity = serde_json::from_value(Value::Object(map))
            .map_err(|e| Error::Payload(format!("identity: {e}")))?;
        Ok((owner, identity))
    }
}
