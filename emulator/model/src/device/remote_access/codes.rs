//! The numbered values consoles send for remote access: policy triggers,
//! where an MPS is used, and the user-initiated service's states.

use serde::{Deserialize, Serialize};

/// What starts a tunnel (AddRemoteAccessPolicyRule's Trigger).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    UserInitiated,
    Alert,
    Periodic,
    HomeProvisioning,
}

impl Trigger {
    pub const ALL: [Trigger; 4] = [
        Trigger::UserInitiated,
        Trigger::Alert,
        Trigger::Periodic,
        Trigger::HomeProvisioning,
    ];

    pub fn from_number(n: i64) -> Option<Trigger> {
        Trigger::ALL
            .into_iter()
            .find(|t| i64::from(t.number()) == n)
    }

    /// A short name for logs and the event stream.
    pub fn name(self) -> &'static str {
        match self {
            Trigger::UserInitiated => "user-initiated",
            Trigger::Alert => "alert",
            Trigger::Periodic => "periodic",
            Trigger::HomeProvisioning => "home-provisioning",
        }
    }

    pub fn number(self) -> u32 {
        match self {
            Trigger::UserInitiated => 0,
            Trigger::Alert => 1,
            Trigger::Periodic => 2,
            Trigger::HomeProvisioning => 3,
        }
    }

    /// The rule's PolicyRuleName; MeshCentral reads the trigger back from
    /// its first word ("User", "Alert", "Periodic").
    pub fn rule_name(self) -> &'static str {
        match self {
            Trigger::UserInitiated => "User Initiated",
            Trigger::Alert => "Alert",
            Trigger::Periodic => "Periodic",
            Trigger::HomeProvisioning => "Home Provisioning",
        }
    }

    pub fn by_rule_name(name: &str) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.rule_name() == name)
    }
}

/// AMT_RemoteAccessPolicyAppliesToMPS.MpsType: where the MPS is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MpsType {
    /// Used when the device is outside the enterprise (the default: CIRA).
    #[default]
    External,
    Internal,
    Both,
}

impl MpsType {
    pub fn from_number(n: i64) -> Option<MpsType> {
        match n {
            0 => Some(MpsType::External),
            1 => Some(MpsType::Internal),
            2 => Some(MpsType::Both),
            _ => None,
        }
    }

    pub fn number(self) -> u32 {
        match self {
            MpsType::External => 0,
            MpsType::Internal => 1,
            MpsType::Both => 2,
        }
    }
}

/// AMT_UserInitiatedConnectionService.EnabledState.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserInitiated {
    /// Value 32768. The factory value is not in the spec; both consoles
    /// set 32771 when they find anything else, which suggests this.
    #[default]
    Disabled,
    /// 32769
    BiosOnly,
    /// 32770
    OsOnly,
    /// 32771
    BiosAndOs,
}

impl UserInitiated {
    pub fn from_number(n: i64) -> Option<UserInitiated> {
        match n {
            32768 => Some(UserInitiated::Disabled),
            32769 => Some(UserInitiated::BiosOnly),
            32770 => Some(UserInitiated::OsOnly),
            32771 => Some(UserInitiated::BiosAndOs),
            _ => None,
        }
    }

    pub fn number(self) -> u32 {
        match self {
            UserInitiated::Disabled => 32768,
            UserInitiated::BiosOnly => 32769,
            UserInitiated::OsOnly => 32770,
            UserInitiated::BiosAndOs => 32771,
        }
    }

    /// Whether software on the host (the control API stands in for it)
    /// may ask for a connection.
    pub fn os_allowed(self) -> bool {
        matches!(self, UserInitiated::OsOnly | UserInitiated::BiosAndOs)
    }
}
