"use strict";
// Counts every [data-ttl-seconds] down live. It counts from the server's figure at page load, so a browser
// whose clock is wrong still shows the right time left.
(function () {
    const loaded = performance.now();
    const cells = Array.from(document.querySelectorAll("[data-ttl-seconds]"));

    function format(seconds) {
        const whole = Math.floor(seconds);
        const minutes = String(Math.floor(whole / 60) % 60).padStart(2, "0");
        const rest = String(whole % 60).padStart(2, "0");
        return `${Math.floor(whole / 3600)}:${minutes}:${rest}`;
    }

    function tick() {
        const elapsed = (performance.now() - loaded) / 1000;
        for (const cell of cells) {
            const left = Number(cell.dataset.ttlSeconds) - elapsed;
            cell.textContent = left > 0 ? format(left) : cell.dataset.ttlExpired;
            cell.classList.toggle("ttl-expired", left <= 0);
        }
    }

    if (cells.length) {
        tick();
        window.setInterval(tick, 1000);
    }
})();
