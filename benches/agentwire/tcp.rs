pub fn scenarios() -> Vec<crate::Scenario> {
    Vec::new()
}
