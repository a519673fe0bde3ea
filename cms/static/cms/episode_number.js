// A new episode's number follows the last one of its season: choosing another season moves it along, unless
// the editor has typed a number of their own.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
    const season = document.getElementById("id_season_id");
    const number = document.getElementById("id_number");
    if (!season || !number) {
        return;
    }
    const offeredFor = () => season.selectedOptions[0]?.dataset.nextNumber;
    let offered = offeredFor();
    season.addEventListener("change", () => {
        const next = offeredFor();
        if (next === undefined) {
            return;
        }
        if (offered === undefined || number.value === offered) {
            number.value = next;
        }
        offered = next;
    });
});
