"use strict";
// Counts every [data-ttl-seconds] down live, and writes its [data-ttl-expired] label ("expired", "on air") once it
// reaches zero. It counts from the server's figure at page load, so a browser whose clock is wrong still shows the
// right time left; each tick falls on a whole second of that count, so a cell turns at its instant, not up to a
// second later. A count of a day or more reads in days, in the page's language ([data-days-format], the form the
// server writes too).
(function () {
    const loaded = performance.now();
    const cells = Array.from(document.querySelectorAll("[data-ttl-seconds]"));
    const holder = document.querySelector("[data-days-format]");
    const daysFormat = holder ? holder.dataset.daysFormat : "%(days)d d %(clock)s";

    // Rounded up: a count reads 0:00:01 in its last second and its label at zero, never 0:00:00 before it.
    function format(seconds) {
        const whole = Math.ceil(seconds);
        const minutes = String(Math.floor(whole / 60) % 60).padStart(2, "0");
        const rest = String(whole % 60).padStart(2, "0");
        const hours = Math.floor(whole / 3600);
        if (hours < 24) {
            return `${hours}:${minutes}:${rest}`;
        }
        const clock = `${String(hours % 24).padStart(2, "0")}:${minutes}:${rest}`;
        return daysFormat.replace("%(days)d", String(Math.floor(hours / 24))).replace("%(clock)s", clock);
    }

    function tick() {
        const elapsed = (performance.now() - loaded) / 1000;
        let counting = false;
        for (const cell of cells) {
            const left = Number(cell.dataset.ttlSeconds) - elapsed;
            cell.textContent = left > 0 ? format(left) : cell.dataset.ttlExpired;
            cell.classList.toggle("ttl-expired", left <= 0);
            counting = counting || left > 0;
        }
        if (counting) {
            // The next whole second since load (a few milliseconds past it, so that the count has crossed it).
            const untilNext = 1000 - ((performance.now() - loaded) % 1000);
            window.setTimeout(tick, untilNext + 5);
        }
    }

    if (cells.length) {
        tick();
    }
})();

// Follows every [data-task-url] not yet finished: asks for its progress every second, writes it into the
// <progress> element's attributes and the text beside it, and reloads the page once the task has ended, so
// that the family's version and TTL are read again.
(function () {
    const POLL_MS = 1000;

    function show(box, status) {
        const bar = box.querySelector("progress");
        if (status.finished) {
            bar.setAttribute("max", "1");
            bar.setAttribute("value", "1");
        } else if (status.total) {
            bar.setAttribute("max", String(status.total));
            bar.setAttribute("value", String(status.done || 0));
        }
        box.querySelector(".task-text").textContent = status.message;
        box.className = `console-task task-${status.state.toLowerCase()}`;
        box.dataset.taskFinished = String(status.finished);
    }

    function follow(box) {
        const timer = window.setInterval(async function () {
            let response;
            try {
                response = await fetch(box.dataset.taskUrl, { headers: { Accept: "application/json" } });
            } catch {
                return; // the network failed this once: ask again at the next tick
            }
            if (!response.ok) {
                window.clearInterval(timer); // the task is gone, or the session ended: a reload would loop
                return;
            }
            const status = await response.json();
            show(box, status);
            if (status.finished) {
                window.clearInterval(timer);
                window.location.reload();
            }
        }, POLL_MS);
    }

    for (const box of document.querySelectorAll("[data-task-url]")) {
        if (box.dataset.taskFinished !== "true") {
            follow(box);
        }
    }
})();
