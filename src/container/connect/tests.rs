//! The connect cache's size.

use transport_local::LocalNetwork;

use crate::container::agents::MIN_PRUNE_AT;
use crate::container::container::lock;
use crate::{Container, ContainerOptions};

/// The connect cache forgets the entries of remote containers that went
/// away: it kept an entry, with its dead connection, for every container
/// ever reached (URLs to connect to may come from peers). Its size stays
/// within twice the live ones (plus a small floor), and the live
/// connection is not among those forgotten.
#[tokio::test]
async fn the_connect_cache_forgets_containers_that_went_away() {
    let options = ContainerOptions::new().local_network(LocalNetwork::new());
    let a = Container::create_with("local://cacher", options.clone())
        .await
        .expect("starts");
    let stays = Container::create_with("local://stays", options.clone())
        .await
        .expect("starts");
    let agent = stays.register("B", crate::Router::new()).expect("register");
    let kept = a.connect(agent.url()).await.expect("connects");
    let mut most = 0;
    for i in 0..300 {
        let b = Container::create_with(&format!("local://went-{i}"), options.clone())
            .await
            .expect("starts");
        let gone = b.register("B", crate::Router::new()).expect("register");
        a.connect(gone.url()).await.expect("connects");
        b.shutdown().await;
        most = most.max(lock(&a.inner.outgoing).len());
    }
    assert!(most <= 2 * MIN_PRUNE_AT + 1, "kept {most} entries");
    let again = a.connect(agent.url()).await.expect("connects");
    assert!(
        again.connection().ptr_eq(kept.connection()),
        "the live connection stays cached"
    );
    a.shutdown().await;
    stays.shutdown().await;
}
